"""The lab API is the real thing: a version-stamped kube-apiserver whose upstream CRD schemas judge what we send."""

import json
import os
import stat
import subprocess

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kmetal_lab import paths


def _custom(k8s):
    return client.CustomObjectsApi(k8s)


def test_api_reports_the_pinned_kubernetes_version(lab_api, k8s):
    pinned = paths.versions()["KUBERNETES_VERSION"]
    assert client.VersionApi(k8s).get_code().git_version == pinned
    out = subprocess.run([str(paths.binary("kube-apiserver")), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"Kubernetes {pinned}"


def test_kubeconfig_is_private(lab_api):
    assert stat.S_IMODE(os.stat(lab_api.kubeconfig).st_mode) == 0o600


def test_lab_listens_on_loopback_only(lab_api):
    """Every socket the lab's processes listen on is bound to 127.0.0.1."""
    state = json.loads((paths.lab_dir() / "state.json").read_text())
    ports = set(state["ports"].values())
    listening = {}
    for line in open("/proc/net/tcp").read().splitlines()[1:] + open("/proc/net/tcp6").read().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A":  # LISTEN
            addr, port = fields[1].rsplit(":", 1)
            listening.setdefault(int(port, 16), set()).add(addr)
    for port in ports:
        assert listening.get(port) == {"0100007F"}, f"port {port} listens on {listening.get(port)}, not 127.0.0.1 only"


def test_rbac_is_enforced(lab_api, k8s):
    """An identity without bindings is refused: the lab runs with RBAC, not AlwaysAllow."""
    review = client.AuthorizationV1Api(k8s).create_subject_access_review(
        client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(user="nobody", resource_attributes=client.V1ResourceAttributes(verb="list", resource="secrets")))
    )
    assert review.status.allowed is False


def test_kube_ovn_subnet_with_non_string_cidr_is_rejected(lab_api, k8s):
    subnet = {"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "smoke-bad-cidr"}, "spec": {"cidrBlock": 42, "protocol": "IPv4"}}
    with pytest.raises(ApiException) as err:
        _custom(k8s).create_cluster_custom_object("kubeovn.io", "v1", "subnets", subnet, dry_run="All")
    assert err.value.status == 422
    assert "spec.cidrBlock" in err.value.body


def test_capi_v1beta2_cluster_with_topology_is_accepted(lab_api, k8s, namespace):
    cluster = {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": "smoke", "namespace": namespace},
        "spec": {
            "clusterNetwork": {"pods": {"cidrBlocks": ["10.200.0.0/16"]}, "services": {"cidrBlocks": ["10.201.0.0/16"]}},
            "topology": {
                "classRef": {"name": "kubevirt-kubeadm", "namespace": "kmetal-capi-providers"},
                "version": "v1.34.1",
                "variables": [{"name": "machineSize", "value": "small"}],
                "workers": {"machineDeployments": [{"class": "default-worker", "name": "md-0", "replicas": 2}]},
            },
        },
    }
    created = _custom(k8s).create_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", namespace, "clusters", cluster)
    assert created["spec"]["topology"]["classRef"] == {"name": "kubevirt-kubeadm", "namespace": "kmetal-capi-providers"}
    # A field the v1beta2 schema does not know is pruned or refused, never stored: the schema is the real one.
    cluster["metadata"]["name"] = "smoke-unknown"
    cluster["spec"]["topology"]["class"] = "kubevirt-kubeadm"
    with pytest.raises(ApiException) as err:
        _custom(k8s).create_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", namespace, "clusters", cluster, field_validation="Strict")
    assert "unknown field" in err.value.body and "spec.topology.class" in err.value.body


def test_metallb_ipaddresspool_round_trips(lab_api, k8s, namespace):
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "smoke-pool", "namespace": namespace},
        "spec": {"addresses": ["192.0.2.100-192.0.2.200", "198.51.100.0/28"], "autoAssign": False},
    }
    api = _custom(k8s)
    api.create_namespaced_custom_object("metallb.io", "v1beta1", namespace, "ipaddresspools", pool)
    read = api.get_namespaced_custom_object("metallb.io", "v1beta1", namespace, "ipaddresspools", "smoke-pool")
    # What we sent comes back unchanged, plus the default the upstream schema declares (avoidBuggyIPs).
    assert read["spec"] == {**pool["spec"], "avoidBuggyIPs": False}


def test_every_crd_of_the_table_is_established(lab_api, k8s):
    from kmetal_lab import crds

    import yaml

    wanted = {d["metadata"]["name"] for d in yaml.safe_load_all(crds.bundle().read_text()) if d}
    served = {
        crd.metadata.name: any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))
        for crd in client.ApiextensionsV1Api(k8s).list_custom_resource_definition().items
    }
    assert wanted - served.keys() == set(), "CRDs of lab/crds.yml missing from the lab API"
    assert [name for name in wanted if not served[name]] == []
    for must in ("clusters.cluster.x-k8s.io", "subnets.kubeovn.io", "vpcs.kubeovn.io", "kamajicontrolplanes.controlplane.cluster.x-k8s.io",
                 "datastores.kamaji.clastix.io", "ipaddresspools.metallb.io", "clusterissuers.cert-manager.io",
                 "network-attachment-definitions.k8s.cni.cncf.io", "kubevirtmachinetemplates.infrastructure.cluster.x-k8s.io"):
        assert must in wanted


def test_namespaces_finish_deleting(lab_api, k8s, namespace):
    """The lab runs the namespace controller: a deleted namespace goes away instead of staying Terminating."""
    import time

    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    core.delete_namespace(namespace)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            core.read_namespace(namespace)
        except ApiException as err:
            assert err.status == 404
            return
        time.sleep(0.5)
    pytest.fail(f"namespace {namespace} was still there 60s after its deletion")
