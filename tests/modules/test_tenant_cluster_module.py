"""kmetal.platform.tenant_cluster through ansible-playbook against the lab API, with a ClusterClass of the test's own."""

import time

import pytest
from kmetal_tasks import bad_input, task
from kubernetes import client

CAPI = ("cluster.x-k8s.io", "v1beta2")


def cluster_class(name):
    """A kubevirt-kubeadm-like ClusterClass declaring the kMetal variables with schemas (stored, not reconciled)."""
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "ClusterClass", "metadata": {"name": name},
        "spec": {
            "controlPlane": {"templateRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1alpha1", "kind": "KamajiControlPlaneTemplate", "name": "cp"}},
            "infrastructure": {"templateRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha1", "kind": "KubevirtClusterTemplate", "name": "infra"}},
            "variables": [
                {"name": "controlPlane", "required": False, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "dataStoreName": {"type": "string", "minLength": 1},
                    "network": {"type": "object", "properties": {
                        "certSANs": {"type": "array", "items": {"type": "string"}},
                        "serviceAddress": {"type": "string", "format": "ipv4"},
                        "serviceType": {"type": "string", "enum": ["LoadBalancer", "NodePort", "ClusterIP"]}}}}}}},
                {"name": "machineSize", "required": True, "schema": {"openAPIV3Schema": {"type": "string", "enum": ["small", "medium", "large"]}}},
                {"name": "bootstrapConfig", "required": False, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "serverAddress": {"type": "string"}}}}},
                {"name": "network", "required": False, "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "subnet": {"type": "string", "minLength": 1}}}}},
            ],
        },
    }


def default_datastore():
    """The platform's default DataStore, as the chart's glue makes it (tenant clusters reference it by name)."""
    def secret(name, key):
        return {"secretReference": {"name": name, "namespace": "kmetal-flux", "keyPath": key}}
    return {"apiVersion": "kamaji.clastix.io/v1alpha1", "kind": "DataStore", "metadata": {"name": "default"},
            "spec": {"driver": "etcd", "endpoints": ["kmetal-etcd-0.kmetal-etcd.kmetal-flux.svc.cluster.local:2379"],
                     "tlsConfig": {"certificateAuthority": {"certificate": secret("kmetal-etcd-ca", "tls.crt"),
                                                            "privateKey": secret("kmetal-etcd-ca", "tls.key")},
                                   "clientCertificate": {"certificate": secret("kmetal-etcd-root-client", "tls.crt"),
                                                         "privateKey": secret("kmetal-etcd-root-client", "tls.key")}}}}


@pytest.fixture
def klass(k8s, namespace):
    name = "kubevirt-kubeadm"
    client.CustomObjectsApi(k8s).create_namespaced_custom_object(*CAPI, namespace, "clusterclasses", cluster_class(name))
    return namespace, name


def get_cluster(k8s, ns, name):
    try:
        return client.CustomObjectsApi(k8s).get_namespaced_custom_object(*CAPI, ns, "clusters", name)
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def base(ns, class_ns):
    return {"name": "prod", "namespace": ns, "class_namespace": class_ns, "version": "v1.34.1", "machine_size": "small",
            "control_plane": {"replicas": 2, "cert_sans": ["prod.acme.example"], "service_address": "192.168.10.50", "service_type": "LoadBalancer"},
            "bootstrap_server_address": "192.168.10.50", "subnet": "acme-prod", "pod_cidrs": ["10.244.0.0/16"], "service_cidrs": ["10.95.0.0/16"],
            "workers": [{"name": "md-0", "replicas": 2}]}


def test_tenant_cluster_lifecycle(play, k8s, klass, audit):
    ns, _name = klass  # the class and the cluster share the test's namespace
    args = base(ns, ns)
    predicted = play([task("tenant_cluster", **args)], check=True)
    assert predicted[0]["changed"] is True and predicted.writes == [] and get_cluster(k8s, ns, "prod") is None

    autoscaled = dict(args, workers=[{"name": "md-0", "min_size": 1, "max_size": 5}])
    run = play([task("tenant_cluster", **args), task("tenant_cluster", **args), task("tenant_cluster", **autoscaled), task("tenant_cluster", **autoscaled),
                task("tenant_cluster", **dict(args, machine_size="huge", ignore_errors=True)),
                task("tenant_cluster", **dict(args, variables={"gpu": True}, ignore_errors=True))])
    create, again, changed, settled, bad_enum, unknown = run.results
    assert create["changed"] is True and again["changed"] is False and again["api_requests"] == 1
    assert changed["changed"] is True and settled["changed"] is False
    md_before = changed["diff"]["before"]["spec"]["topology"]["workers"]["machineDeployments"][0]
    md_after = changed["diff"]["after"]["spec"]["topology"]["workers"]["machineDeployments"][0]
    assert md_before["replicas"] == 2 and "replicas" not in md_after
    assert md_after["metadata"]["annotations"]["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == "5"
    assert "variables.machineSize: 'huge' is not one of 'small', 'medium', 'large'" in bad_enum["msg"]
    assert "variables.gpu: the ClusterClass declares no such variable" in unknown["msg"]
    assert len(run.writes) == 2
    live = get_cluster(k8s, ns, "prod")
    assert live["spec"]["topology"]["classRef"] == {"name": "kubevirt-kubeadm", "namespace": ns}
    assert {v["name"] for v in live["spec"]["topology"]["variables"]} == {"controlPlane", "machineSize", "bootstrapConfig", "network"}

    # wait: the conditions are written through the status subresource while the module waits
    waiting = play([task("tenant_cluster", **dict(autoscaled, wait=True, wait_for=["Available", "ControlPlaneReady"], wait_timeout=60))], background=True)
    time.sleep(4)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [{"type": t, "status": "True", "reason": "Test", "message": "", "lastTransitionTime": now} for t in ("Available", "ControlPlaneReady")]
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(*CAPI, ns, "clusters", "prod", {"status": {"conditions": conditions}})
    waited = waiting()
    assert waited[0]["changed"] is False and waited[0]["summary"]["conditions"] == {"Available": "True", "ControlPlaneReady": "True"}

    timeout = play([task("tenant_cluster", **dict(autoscaled, wait=True, wait_for=["WorkersAvailable"], wait_timeout=2, ignore_errors=True))])
    assert "timed out after 2s waiting for conditions WorkersAvailable to be True" in timeout[0]["msg"] and timeout.writes == []

    gone = play([task("tenant_cluster", name="prod", namespace=ns, state="absent", check_mode=True),
                 task("tenant_cluster", name="prod", namespace=ns, state="absent", wait=True, wait_timeout=30),
                 task("tenant_cluster", name="prod", namespace=ns, state="absent")])
    assert [r["changed"] for r in gone.results] == [True, True, False]
    assert [w["verb"] for w in gone.writes] == ["delete"] and get_cluster(k8s, ns, "prod") is None


BAD = [
    ({"version": "1.34.1"}, "version: '1.34.1' is not a Kubernetes version"),
    ({"version": None}, "version: None is not a Kubernetes version"),
    ({"name": "Prod"}, "name: 'Prod' is not a valid name"),
    ({"pod_cidrs": ["10.244.0.0/16"], "service_cidrs": ["10.244.128.0/20"]}, "overlaps the pod network 10.244.0.0/16"),
    ({"pod_cidrs": ["10.244.0.1/16"]}, "pod_cidrs[0]: '10.244.0.1/16' has host bits set"),
    ({"workers": [{"name": "md", "replicas": 2, "min_size": 1, "max_size": 3}]}, "give either replicas or min_size/max_size"),
    ({"workers": [{"name": "md", "min_size": 4, "max_size": 2}]}, "min_size 4 is greater than max_size 2"),
    ({"workers": [{"name": "md", "replicas": -1}]}, "workers[0].replicas"),
    ({"control_plane": {"replicas": 10}}, "control_plane.replicas: 10 is out of range"),
    ({"control_plane": {"service_address": "192.168.10.500"}}, "control_plane.service_address"),
    ({"bootstrap_server_address": "not an address!"}, "bootstrap_server_address"),
    ({"variables": {"machineSize": "small"}}, "variables.machineSize: is set by a module option"),
    ({"namespace": None}, "namespace: give namespace or tenant"),
]


def test_tenant_cluster_bad_input_fails_before_any_write(play, namespace):
    cases = [(dict(base(namespace, namespace), **change), words) for change, words in BAD]
    results, run = bad_input(play, "tenant_cluster", cases)
    for (args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.writes == [] and run.requests == 0


def test_tenant_cluster_without_its_namespace_is_refused(play, uniq):
    run = play([task("tenant_cluster", ignore_errors=True, **base("tenant-nope-" + uniq, "kmetal-capi-providers"))])
    assert "the namespace tenant-nope-%s does not exist: create the tenant first" % uniq in run[0]["msg"] and run.writes == []
