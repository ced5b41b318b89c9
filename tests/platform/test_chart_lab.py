"""The kMetal chart against the lab API: the real upstream CRD schemas judge what the chart renders.

The lab API runs no pods, so nothing with a webhook may stay in it: the all-on render is only ever sent with
server-side dry-run; the release installed for real has the sub-charts off and the glue on, under names of the
test's own, and is uninstalled afterwards.
"""

import os
import subprocess
import uuid

import jsonschema
import pytest
import yaml

import kmetal_platform_helpers as c

# The tenant Cluster of the API reference seed (002): a v1beta2 Cluster over the kubevirt-kubeadm ClusterClass.
SEED_VARIABLES = [
    {"name": "controlPlane", "value": {"dataStoreName": "default", "network": {
        "certSANs": ["api.acme.example"], "serviceAddress": "198.18.1.201", "serviceType": "LoadBalancer"}}},
    {"name": "machineSize", "value": "small"},
    {"name": "bootstrapConfig", "value": {"serverAddress": "198.18.1.201"}},
    {"name": "network", "value": {"subnet": "acme-prod"}},
]


@pytest.fixture(scope="module", autouse=True)
def vendored():
    c.ensure_vendored()


def scoped_values(namespace: str, suffix: str, glue_only: bool) -> dict:
    """Values whose every namespaced object lands in the test's namespace and whose cluster-scoped names are the test's."""
    values = c.merge(c.BASE, {
        "capi": {"namespace": namespace},
        "kubevirt": {"namespace": namespace},
        "flux": {"enabled": True, "reconcile": True},  # the controllers, and the source and HelmRelease of the hand-over
        "network": {"providerNetwork": {"name": f"t{suffix}"}},
        # The Kamaji controller's default DataStore mirrors the glue's.
        "kamaji": {"defaultDatastoreName": f"t-{suffix}"},
        "glue": {
            "dataStore": {"name": f"t-{suffix}"},
            "clusterIssuer": {"name": f"t-{suffix}"},
            "clusterRole": {"name": f"t-{suffix}"},
        },
    })
    if glue_only:
        for toggle in ["network.flannel.enabled", "network.kubeOvn.enabled", "metallb.enabled", "kamaji.enabled",
                       "capi.enabled", "certManager.enabled", "storage.localPath.enabled",
                       # CDI is cluster-scoped with a fixed name (cdi): the demo release owns it.
                       "cdi.enabled",
                       # Flux's CRDs are templates of its CRD sub-charts, which the lab API's own CRDs would clash with;
                       # its source and HelmRelease pass the all-on dry-run and run for real in tests/hosts
                       "flux.enabled"]:
            values = c.merge(values, c.dotted(toggle, False))
    return values


def dry_run(lab_api, docs: list[dict]) -> subprocess.CompletedProcess:
    stream = yaml.safe_dump_all(docs)
    return c.kubectl(lab_api.kubeconfig, "apply", "--server-side", "--force-conflicts", "--dry-run=server",
                     "--field-manager", "kmetal-test", "-f", "-", stdin=stream, check=False)


def test_all_on_render_passes_server_side_dry_run(lab_api, namespace):
    """Every object of the all-on chart (sub-charts and glue) is accepted by the lab API's real schemas."""
    suffix = uuid.uuid4().hex[:6]
    out = c.template(scoped_values(namespace, suffix, glue_only=False), namespace=namespace).stdout
    # The CRDs the sub-charts carry are the same upstream files the lab API already serves.
    docs = [d for d in c.documents(out) if d["kind"] != "CustomResourceDefinition"]
    kinds = {d["kind"] for d in docs}
    assert {"ValidatingWebhookConfiguration", "ClusterClass", "DataStore", "KubeVirt", "CDI", "HelmRelease"} <= kinds
    result = dry_run(lab_api, docs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(docs)


def test_glue_installed_for_real_and_the_seed_cluster_accepted(lab_api, namespace, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    release = f"t-{suffix}"
    values = scoped_values(namespace, suffix, glue_only=True)
    glue = c.documents(c.template(values, namespace=namespace, release=release).stdout, glue_only=True)
    assert {d["kind"] for d in glue} >= {"ClusterClass", "KamajiControlPlaneTemplate", "KubevirtClusterTemplate",
                                         "KubevirtMachineTemplate", "KubeadmConfigTemplate", "DataStore",
                                         "IPAddressPool", "L2Advertisement", "ClusterIssuer", "ClusterRole",
                                         "ProviderNetwork", "Vlan", "Subnet", "NetworkAttachmentDefinition",
                                         "CoreProvider", "KubeVirt"}
    # First with dry-run: the real schemas judge every glue object.
    result = dry_run(lab_api, glue)
    assert result.returncode == 0, result.stderr

    env = {**os.environ, "KUBECONFIG": str(lab_api.kubeconfig)}
    install = c.helm("install", release, str(c.CHART), "--namespace", namespace, "--kubeconfig", str(lab_api.kubeconfig),
                     values=values, check=False)
    try:
        assert install.returncode == 0, install.stderr
        for doc in glue:
            ns = ["-n", doc["metadata"]["namespace"]] if doc["metadata"].get("namespace") else []
            got = c.kubectl(lab_api.kubeconfig, "get", f"{doc['kind']}.{doc['apiVersion'].split('/')[0]}"
                            if "/" in doc["apiVersion"] else doc["kind"], doc["metadata"]["name"], *ns, "-o", "name", check=False)
            assert got.returncode == 0, f"{doc['kind']}/{doc['metadata']['name']}: {got.stderr}"

        # The ClusterClass as stored by the API server: the seed's variables satisfy its schemas.
        stored = yaml.safe_load(c.kubectl(lab_api.kubeconfig, "get", "clusterclass.cluster.x-k8s.io", "kubevirt-kubeadm",
                                          "-n", namespace, "-o", "yaml").stdout)
        schemas = {v["name"]: v["schema"]["openAPIV3Schema"] for v in stored["spec"]["variables"]}
        for var in SEED_VARIABLES:
            jsonschema.validate(var["value"], schemas[var["name"]])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate("huge", schemas["machineSize"])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({}, schemas["bootstrapConfig"])

        # The seed's Cluster through the collection's tenant_cluster module (it checks the variables against the
        # ClusterClass's schemas before writing), then a Cluster with a bad variable, which it refuses.
        playbook = tmp_path / "cluster.yml"
        playbook.write_text(yaml.safe_dump([{
            "name": "seed cluster", "hosts": "localhost", "connection": "local", "gather_facts": False,
            "tasks": [
                {"name": "the seed's Cluster", "kmetal.platform.tenant_cluster": {
                    "name": "my-cluster", "namespace": namespace, "class_namespace": namespace, "version": "v1.34.1",
                    "control_plane": {"data_store_name": "default", "cert_sans": ["api.acme.example"],
                                      "service_address": "198.18.1.201", "service_type": "LoadBalancer"},
                    "machine_size": "small", "bootstrap_server_address": "198.18.1.201", "subnet": "acme-prod",
                    "pod_cidrs": ["10.200.0.0/16"], "service_cidrs": ["10.201.0.0/16"],
                    "workers": [{"name": "md-0", "class": "default-worker", "replicas": 2}]}},
                {"name": "a bad machine size", "kmetal.platform.tenant_cluster": {
                    "name": "bad-cluster", "namespace": namespace, "class_namespace": namespace, "version": "v1.34.1",
                    "machine_size": "huge", "bootstrap_server_address": "198.18.1.201", "subnet": "acme-prod"},
                 "register": "bad", "ignore_errors": True},
                {"name": "the bad one was refused", "ansible.builtin.assert": {"that": ["bad is failed"]}},
            ]}]))
        run = subprocess.run(["ansible-playbook", "-i", "localhost,", str(playbook)], capture_output=True, text=True,
                             env={**env, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}, cwd=c.REPO, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        cluster = yaml.safe_load(c.kubectl(lab_api.kubeconfig, "get", "cluster.cluster.x-k8s.io", "my-cluster",
                                           "-n", namespace, "-o", "yaml").stdout)
        assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta2"
        assert cluster["spec"]["topology"]["classRef"] == {"name": "kubevirt-kubeadm", "namespace": namespace}
        assert {v["name"] for v in cluster["spec"]["topology"]["variables"]} >= {"controlPlane", "bootstrapConfig", "network"}
    finally:
        c.kubectl(lab_api.kubeconfig, "delete", "cluster.cluster.x-k8s.io", "--all", "-n", namespace, "--wait=false", check=False)
        c.helm("uninstall", release, "--namespace", namespace, "--kubeconfig", str(lab_api.kubeconfig), check=False)
    # Nothing of the release is left behind (cluster-scoped objects included).
    left = c.kubectl(lab_api.kubeconfig, "get", "datastore.kamaji.clastix.io", f"t-{suffix}", check=False)
    assert left.returncode != 0
