"""The chart's lifecycle pieces (templates/lifecycle/): the tenant clusters' cluster-autoscaler, toggled, with its
image in the artifact manifest's runtime images; rendered by the real helm against the values schema."""

import pytest
import yaml

import kmetal_platform_helpers as c
from test_platform_values import role_values

ARTIFACTS_DEFAULTS = c.REPO / "collections/ansible_collections/kmetal/platform/roles/artifacts/defaults/main.yml"
LIFECYCLE = "kmetal/templates/lifecycle/"


@pytest.fixture(scope="module", autouse=True)
def vendored():
    c.ensure_vendored()


def lifecycle(values):
    out = c.template(c.merge(c.BASE, values)).stdout
    return [d for d in c.documents(out) if d.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/part-of") == "kmetal"
            and d["kind"] in ("Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")
            and "autoscaler" in d["metadata"]["name"]]


def test_autoscaler_is_off_by_default_and_on_renders_one_per_cluster():
    assert lifecycle({}) == []
    on = lifecycle({"autoscaler": {"enabled": True, "clusters": [{"name": "prod", "namespace": "tenant-acme"},
                                                                 {"name": "dev", "namespace": "tenant-acme", "scaleDownUnneededTime": "2m"}]}})
    deployments = {d["metadata"]["name"]: d for d in on if d["kind"] == "Deployment"}
    assert set(deployments) == {"autoscaler-tenant-acme-prod", "autoscaler-tenant-acme-dev"}
    pod = deployments["autoscaler-tenant-acme-dev"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert "--cloud-provider=clusterapi" in container["args"]
    assert "--node-group-auto-discovery=clusterapi:namespace=tenant-acme,clusterName=dev" in container["args"]
    assert "--scale-down-unneeded-time=2m" in container["args"]
    assert pod["volumes"][0]["secret"]["secretName"] == "dev-kubeconfig"  # Cluster API's kubeconfig of the tenant
    role = next(d for d in on if d["kind"] == "ClusterRole")
    assert "machinedeployments/scale" in role["rules"][0]["resources"]


def test_the_autoscaler_image_is_in_the_artifact_manifests_runtime_images():
    on = lifecycle({"autoscaler": {"enabled": True, "clusters": [{"name": "prod", "namespace": "tenant-acme"}]}})
    image = next(d for d in on if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    runtime = yaml.safe_load(ARTIFACTS_DEFAULTS.read_text())["artifacts_runtime_images"]
    entry = next(e for e in runtime if e["component"] == "autoscaler")
    assert entry["refs"] == [image]


@pytest.mark.parametrize("values,words", [
    ({"autoscaler": {"enabled": True, "clusters": [{"name": "prod"}]}}, "at '/autoscaler/clusters/0': missing property 'namespace'"),
    ({"autoscaler": {"enabled": True, "clusters": [{"name": "Prod", "namespace": "t"}]}}, "/autoscaler/clusters/0/name"),
    ({"autoscaler": {"enabled": True, "scaleDownUnneededTime": "ten"}}, "scaleDownUnneededTime"),
])
def test_bad_autoscaler_values_are_refused(values, words):
    result = c.template(c.merge(c.BASE, values), check=False)
    assert result.returncode != 0 and words in result.stderr, result.stderr


def test_the_platform_role_lists_the_inventorys_autoscaled_clusters(tmp_path):
    tenants = [{"name": "acme", "clusters": [{"name": "prod", "workers": [{"name": "md-0", "min_size": 0, "max_size": 3}]},
                                             {"name": "fixed", "workers": [{"name": "md-0", "replicas": 2}]}]},
               {"name": "gone", "state": "absent", "clusters": [{"name": "x", "workers": [{"name": "md", "min_size": 1, "max_size": 2}]}]}]
    components = yaml.safe_load((c.REPO / "inventories/sample/group_vars/all/platform.yml").read_text())["kmetal_platform_components"]
    values = role_values(tmp_path, kmetal_tenants=tenants, kmetal_platform_components=dict(components, autoscaler=True))
    assert values["autoscaler"] == {"enabled": True, "clusters": [{"name": "prod", "namespace": "tenant-acme"}]}
    assert [d["metadata"]["name"] for d in c.documents(c.template(values).stdout) if d["kind"] == "Deployment"
            and d["metadata"]["name"].startswith("autoscaler-")] == ["autoscaler-tenant-acme-prod"]
