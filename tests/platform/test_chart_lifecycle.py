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


DEDICATED = {"datastores": {"dedicated": [
    {"name": "tenant-acme", "replicas": 3, "backup": {"enabled": True, "retention": 5, "schedule": "0 3 * * *"}},
    {"name": "tenant-globex", "replicas": 1, "backup": {"enabled": True, "target": "s3", "s3": {
        "endpoint": "https://s3.example", "bucket": "backups", "prefix": "etcd/", "secretName": "s3-creds"}}}]}}


def by_kind_name(values):
    out = c.template(c.merge(c.BASE, values)).stdout
    return {(d["kind"], d["metadata"]["name"]): d for d in c.documents(out) if "kmetal.io/datastore" in (d["metadata"].get("labels") or {})}


def test_dedicated_datastore_etcd_its_certificates_and_backups():
    objs = by_kind_name(DEDICATED)
    assert by_kind_name({}) == {}
    sts = objs[("StatefulSet", "tenant-acme-etcd")]
    assert sts["spec"]["replicas"] == 3 and sts["metadata"]["namespace"] == "kmetal-flux"
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    domain = "tenant-acme-etcd.kmetal-flux.svc.cluster.local"
    assert "--initial-cluster=" + ",".join("tenant-acme-etcd-%d=https://tenant-acme-etcd-%d.%s:2380" % (i, i, domain) for i in range(3)) in args
    assert "--client-cert-auth=true" in args
    assert objs[("Certificate", "tenant-acme-etcd-server")]["spec"]["dnsNames"][3] == "*." + domain
    assert objs[("Certificate", "tenant-acme-etcd-ca")]["spec"]["isCA"] is True
    assert objs[("Certificate", "tenant-acme-etcd-root-client")]["spec"]["commonName"] == "root"
    # backups: etcdctl into the PVC, the newest 5 kept
    job = objs[("CronJob", "tenant-acme-etcd-backup")]["spec"]
    assert job["schedule"] == "0 3 * * *" and job["concurrencyPolicy"] == "Forbid"
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"][:1] == ["etcdctl"] and "snapshot" in pod["initContainers"][0]["command"]
    assert "tail -n +6" in pod["containers"][0]["command"][2]
    assert ("PersistentVolumeClaim", "tenant-acme-etcd-backups") in objs
    # s3: the aws client with the secret's keys, no PVC
    s3 = objs[("CronJob", "tenant-globex-etcd-backup")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert s3["image"].startswith("docker.io/amazon/aws-cli:") and "s3://backups/etcd/" in s3["command"][2]
    assert ("PersistentVolumeClaim", "tenant-globex-etcd-backups") not in objs


def test_the_module_datastore_points_at_the_charts_etcd_and_secrets():
    """The DataStore kmetal.platform.tenant_cluster makes and the etcd the chart runs agree on every name."""
    import sys

    sys.path.insert(0, str(c.REPO / "collections"))
    from ansible_collections.kmetal.platform.plugins.module_utils import _datastore
    from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems

    store = _datastore.validate({"datastore": {"replicas": 3, "namespace": "kmetal-flux"}, "tenant": "acme"}, "tenant-acme", Problems("x"))
    objs = by_kind_name(DEDICATED)
    sts = objs[("StatefulSet", "tenant-acme-etcd")]
    hosts = ["%s-%d.%s.kmetal-flux.svc.cluster.local:2379" % (sts["metadata"]["name"], i, sts["spec"]["serviceName"]) for i in range(3)]
    assert store["spec"]["endpoints"] == hosts
    tls = store["spec"]["tlsConfig"]
    ca = objs[("Certificate", "tenant-acme-etcd-ca")]["spec"]["secretName"]
    client = objs[("Certificate", "tenant-acme-etcd-root-client")]["spec"]["secretName"]
    assert tls["certificateAuthority"]["certificate"]["secretReference"]["name"] == ca
    assert tls["clientCertificate"]["certificate"]["secretReference"]["name"] == client


@pytest.mark.parametrize("values,words", [
    ({"datastores": {"dedicated": [{"name": "t", "replicas": 2}]}}, "/datastores/dedicated/0/replicas"),
    ({"datastores": {"dedicated": [{"name": "t", "backup": {"enabled": True, "target": "s3"}}]}},
     "backup.target s3 needs backup.s3.endpoint, bucket and secretName"),
    ({"datastores": {"dedicated": [{"name": "t", "backup": {"enabled": True, "retention": 0}}]}}, "/datastores/dedicated/0/backup/retention"),
    ({"datastores": {"dedicated": [{"name": "t", "backup": {"enabled": True, "target": "nfs"}}]}}, "/datastores/dedicated/0/backup/target"),
])
def test_bad_datastore_values_are_refused(values, words):
    result = c.template(c.merge(c.BASE, values), check=False)
    assert result.returncode != 0 and words in result.stderr, result.stderr


def test_the_platform_role_lists_the_inventorys_dedicated_datastores(tmp_path):
    tenants = [{"name": "acme", "datastore": {"replicas": 1, "backup": {"enabled": True, "retention": 3}}},
               {"name": "globex", "namespace": "globex", "datastore": {"name": "globex-etcd-store"}},
               {"name": "plain"}]
    values = role_values(tmp_path, kmetal_tenants=tenants)
    assert values["datastores"] == {"dedicated": [
        {"name": "tenant-acme", "replicas": 1, "backup": {"enabled": True, "retention": 3}},
        {"name": "globex-etcd-store", "replicas": 3}]}
    assert ("StatefulSet", "tenant-acme-etcd") in {(d["kind"], d["metadata"]["name"]) for d in c.documents(c.template(values).stdout)}


def control_plane_template(values):
    out = c.template(c.merge(c.BASE, values)).stdout
    return next(d for d in c.documents(out) if d["kind"] == "KamajiControlPlaneTemplate")["spec"]["template"]["spec"]


def test_tenant_control_planes_spread_across_sites_and_nodes():
    spread = control_plane_template({})["deployment"]["topologySpreadConstraints"]
    assert [(s["topologyKey"], s["whenUnsatisfiable"]) for s in spread] == [
        ("topology.kubernetes.io/zone", "ScheduleAnyway"), ("kubernetes.io/hostname", "ScheduleAnyway")]
    for s in spread:  # each control plane's pods, each revision on its own; no key in both (the API server refuses that)
        assert s["matchLabelKeys"] == ["pod-template-hash"]
        assert s["labelSelector"]["matchExpressions"] == [{"key": "kamaji.clastix.io/name", "operator": "Exists"}]
    strict = control_plane_template({"multiSite": {"controlPlaneSpread": {"whenUnsatisfiable": "DoNotSchedule"}}})
    assert strict["deployment"]["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "deployment" not in control_plane_template({"multiSite": {"controlPlaneSpread": {"enabled": False}}})
    bad = c.template(c.merge(c.BASE, {"multiSite": {"controlPlaneSpread": {"whenUnsatisfiable": "Never"}}}), check=False)
    assert bad.returncode != 0 and "whenUnsatisfiable" in bad.stderr


GPU = {"gpu": {"devices": [{"selector": "10de:2236", "resourceName": "nvidia.com/GA102GL_A10"}]},
       "tenants": {"machineSizes": {"gpu-a10": {"cores": 8, "memory": "32Gi", "disk": "100Gi",
                                                "gpus": [{"resource": "nvidia.com/GA102GL_A10", "count": 2}]}}}}


def test_gpu_passthrough_permits_the_devices_and_adds_a_gpu_machine_size():
    docs = c.documents(c.template(c.merge(c.BASE, GPU)).stdout)
    kubevirt = next(d for d in docs if d["kind"] == "KubeVirt")["spec"]["configuration"]
    assert kubevirt["permittedHostDevices"] == {"pciHostDevices": [{"pciVendorSelector": "10DE:2236", "resourceName": "nvidia.com/GA102GL_A10"}]}
    assert "HostDevices" in kubevirt["developerConfiguration"]["featureGates"]
    template = next(d for d in docs if d["kind"] == "KubevirtMachineTemplate" and d["metadata"]["name"] == "kubevirt-kubeadm-gpu-a10")
    devices = template["spec"]["template"]["spec"]["virtualMachineTemplate"]["spec"]["template"]["spec"]["domain"]["devices"]
    assert devices["hostDevices"] == [{"name": "gpu0-0", "deviceName": "nvidia.com/GA102GL_A10"}, {"name": "gpu0-1", "deviceName": "nvidia.com/GA102GL_A10"}]
    klass = next(d for d in docs if d["kind"] == "ClusterClass")
    assert "gpu-a10" in next(v for v in klass["spec"]["variables"] if v["name"] == "machineSize")["schema"]["openAPIV3Schema"]["enum"]
    patch = next(p for p in klass["spec"]["patches"] if p["name"] == "machine-size-gpu-a10")["definitions"][0]["jsonPatches"][-1]
    assert patch["path"].endswith("/domain/devices/hostDevices") and len(patch["value"]) == 2  # default-worker sized gpu-a10
    # without GPUs nothing changes: no permitted devices, no hostDevices
    plain = c.documents(c.template(c.BASE).stdout)
    assert "permittedHostDevices" not in next(d for d in plain if d["kind"] == "KubeVirt")["spec"].get("configuration", {})


def test_a_gpu_size_whose_resource_is_not_permitted_is_refused():
    values = c.merge(c.BASE, {"tenants": GPU["tenants"]})
    result = c.template(values, check=False)
    assert result.returncode != 0
    assert "tenants.machineSizes.gpu-a10.gpus[0].resource nvidia.com/GA102GL_A10 is not one of gpu.devices' resourceName" in result.stderr
    bad = c.template(c.merge(c.BASE, {"gpu": {"devices": [{"selector": "nvidia", "resourceName": "x"}]}}), check=False)
    assert bad.returncode != 0 and "/gpu/devices/0/selector" in bad.stderr


def test_the_platform_role_permits_the_hosts_gpus(tmp_path):
    values = role_values(tmp_path, kmetal_gpu_devices=[{"address": "0000:3b:00.0", "selector": "10de:2236", "resource": "nvidia.com/GA102GL_A10"}])
    assert values["gpu"] == {"devices": [{"selector": "10DE:2236", "resourceName": "nvidia.com/GA102GL_A10"}]}


def test_lifecycle_objects_pass_the_lab_apis_real_schemas(lab_api, namespace):
    """The autoscaler, a dedicated etcd with both backup targets, the spread control-plane template and the GPU size
    (the KubeVirt CR with permitted devices, the KubevirtMachineTemplate with host devices), server-side dry run."""
    import uuid

    from test_chart_lab import dry_run, scoped_values

    suffix = uuid.uuid4().hex[:6]
    values = c.merge(scoped_values(namespace, suffix, glue_only=True), c.merge(GPU, {
        "autoscaler": {"enabled": True, "namespace": namespace, "clusters": [{"name": "prod", "namespace": namespace}]},
        "datastores": {"namespace": namespace, "dedicated": DEDICATED["datastores"]["dedicated"]}}))
    docs = [d for d in c.documents(c.template(values, namespace=namespace).stdout)
            if d["kind"] in ("KubeVirt", "KubevirtMachineTemplate", "KamajiControlPlaneTemplate", "StatefulSet", "CronJob", "Certificate",
                             "Issuer", "Deployment", "PersistentVolumeClaim", "Service")
            and (d["metadata"].get("namespace") in (None, namespace))]
    kinds = {d["kind"] for d in docs}
    assert {"KubeVirt", "KubevirtMachineTemplate", "KamajiControlPlaneTemplate", "StatefulSet", "CronJob", "Certificate", "Deployment"} <= kinds
    for doc in docs:
        doc["metadata"].setdefault("namespace", namespace)
        if doc["kind"] == "KubeVirt":
            doc["metadata"]["name"] = "kubevirt-" + suffix
    result = dry_run(lab_api, docs)
    assert result.returncode == 0, result.stderr
