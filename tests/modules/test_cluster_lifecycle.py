"""The tenant cluster's lifecycle through ansible-playbook against the lab API (the real Cluster API, Kamaji and
Kamaji CAPI provider CRDs): sleep and wake, and guarded upgrades. No controller runs there, so what Kamaji would
report (a KamajiControlPlane's status, a TenantControlPlane's version) is written through the status subresource
while the module waits, as Kamaji would."""

import json
import time

import pytest
from kmetal_tasks import task
from kubernetes import client
from test_tenant_cluster_module import CAPI, cluster_class, get_cluster
from test_tenant_fleet import cleanup, fleet, fleet_task  # noqa: F401  (fixtures)

KCP = ("controlplane.cluster.x-k8s.io", "v1alpha1")
KAMAJI = ("kamaji.clastix.io", "v1alpha1")
WAKE = "kmetal.io/wake-replicas"


@pytest.fixture
def klass(k8s, namespace):
    client.CustomObjectsApi(k8s).create_namespaced_custom_object(*CAPI, namespace, "clusterclasses", cluster_class("kubevirt-kubeadm"))
    return namespace


def args(ns, **extra):
    base = {"name": "dev", "namespace": ns, "class_namespace": ns, "version": "v1.34.1", "machine_size": "small",
            "control_plane": {"service_type": "LoadBalancer"}, "bootstrap_server_address": "198.18.100.20", "subnet": "acme-dev",
            "workers": [{"name": "md-0", "replicas": 1}]}
    base.update(extra)
    return base


def replicas(cluster):
    return ((cluster["spec"]["topology"].get("controlPlane") or {}).get("replicas"))


def annotations(cluster):
    return cluster["metadata"].get("annotations") or {}


def control_plane(k8s, ns, cluster, name="dev-cp", version="v1.34.1", replicas_=3, tcp_status=None):
    """What CAPI's topology controller and Kamaji's provider make: the KamajiControlPlane (and Kamaji's
    TenantControlPlane of the same name), and the Cluster's controlPlaneRef to it (written by another manager)."""
    custom = client.CustomObjectsApi(k8s)
    custom.create_namespaced_custom_object(*KCP, ns, "kamajicontrolplanes", {
        "apiVersion": "controlplane.cluster.x-k8s.io/v1alpha1", "kind": "KamajiControlPlane", "metadata": {"name": name},
        "spec": {"dataStoreName": "default", "version": version, "replicas": replicas_, "network": {"serviceType": "LoadBalancer"},
                 "kubelet": {"cgroupfs": "systemd"}, "addons": {}}})
    custom.patch_namespaced_custom_object(*CAPI, ns, "clusters", cluster, {"spec": {"controlPlaneRef": {
        "apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KamajiControlPlane", "name": name}}}, field_manager="capi-topology")
    kcp_status(k8s, ns, name, version=version, replicas_=replicas_, ready=replicas_)
    return name


def until(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def kcp_status(k8s, ns, name, version, replicas_, ready):
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(*KCP, ns, "kamajicontrolplanes", name, {
        "status": {"version": version, "replicas": replicas_, "readyReplicas": ready, "updatedReplicas": replicas_,
                   "unavailableReplicas": replicas_ - ready, "ready": ready > 0, "initialized": ready > 0,
                   "selector": "kamaji.clastix.io/name=%s" % name, "externalManagedControlPlane": True}})


def test_sleep_keeps_the_count_and_wake_restores_it(play, k8s, klass):
    ns = klass
    run = play([task("tenant_cluster", **args(ns, control_plane={"replicas": 3, "service_type": "LoadBalancer"}))])
    assert run[0]["changed"] and replicas(get_cluster(k8s, ns, "dev")) == 3

    # sleep: check mode predicts, writes nothing
    predicted = play([task("tenant_cluster", **args(ns, sleep=True))], check=True)
    assert predicted[0]["changed"] and predicted.writes == [] and replicas(get_cluster(k8s, ns, "dev")) == 3
    after = predicted[0]["diff"]["after"]
    assert replicas(after) == 0 and annotations(after)[WAKE] == "3"

    slept = play([task("tenant_cluster", **args(ns, sleep=True)), task("tenant_cluster", **args(ns, sleep=True)),
                  # an inventory re-run that says nothing of sleep leaves it asleep
                  task("tenant_cluster", **args(ns)),
                  task("tenant_cluster", ignore_errors=True, **args(ns, version="v1.35.0"))])
    asleep, again, untouched, upgrade = slept.results
    assert asleep["changed"] and asleep["summary"]["sleeping"] is True and asleep["summary"]["wake_replicas"] == 3
    assert again["changed"] is False and untouched["changed"] is False
    assert upgrade["failed"] and "the cluster sleeps (control-plane replicas 0): wake it first" in upgrade["msg"]
    assert "Cluster %s/dev: version:" % ns in upgrade["msg"]
    assert len(slept.writes) == 1
    live = get_cluster(k8s, ns, "dev")
    assert replicas(live) == 0 and annotations(live)[WAKE] == "3" and live["spec"]["topology"]["version"] == "v1.34.1"

    # wake: back to 3, not to a default; the annotation goes; a later run without the option keeps the 3
    woke = play([task("tenant_cluster", **args(ns, sleep=False)), task("tenant_cluster", **args(ns, sleep=False)), task("tenant_cluster", **args(ns))])
    assert [r["changed"] for r in woke.results] == [True, False, False]
    assert woke[0]["summary"]["sleeping"] is False and len(woke.writes) == 1
    live = get_cluster(k8s, ns, "dev")
    assert replicas(live) == 3 and WAKE not in annotations(live)

    # control_plane.replicas: 0 is a sleep too, with the count kept; a wake may name another count
    play([task("tenant_cluster", **args(ns, control_plane={"replicas": 0}))])
    assert annotations(get_cluster(k8s, ns, "dev"))[WAKE] == "3"
    play([task("tenant_cluster", **args(ns, sleep=False, control_plane={"replicas": 2}))])
    assert replicas(get_cluster(k8s, ns, "dev")) == 2


def test_a_cluster_created_asleep_needs_a_count_to_wake(play, k8s, klass):
    ns = klass
    run = play([task("tenant_cluster", **args(ns, sleep=True)),
                task("tenant_cluster", ignore_errors=True, **args(ns, sleep=False)),
                task("tenant_cluster", ignore_errors=True, **args(ns, sleep=False, control_plane={"replicas": 0}))])
    created, wake, contradiction = run.results
    assert created["changed"] and replicas(get_cluster(k8s, ns, "dev")) == 0
    assert any("no replica count to wake to" in w for w in created.get("warnings", []))
    assert wake["failed"] and "keeps no replica count to wake to" in wake["msg"] and "give control_plane.replicas" in wake["msg"]
    assert contradiction["failed"] and "control_plane.replicas: 0 puts the control plane to sleep, which contradicts sleep: false" in contradiction["msg"]
    assert "api_requests" not in contradiction  # refused before any request
    assert len(run.writes) == 1


def test_sleep_with_wait_returns_what_kamaji_reports(play, k8s, klass):
    ns = klass
    play([task("tenant_cluster", **args(ns, control_plane={"replicas": 2}))])
    name = control_plane(k8s, ns, "dev", replicas_=2)
    waiting = play([task("tenant_cluster", **args(ns, sleep=True, wait=True, wait_timeout=60))], background=True)
    until(lambda: replicas(get_cluster(k8s, ns, "dev")) == 0)  # written, now waiting for the control plane
    kcp_status(k8s, ns, name, version="v1.34.1", replicas_=0, ready=0)
    done = waiting()[0]
    assert done["changed"] and done["summary"]["sleeping"] is True
    assert done["control_plane"]["name"] == name and done["control_plane"]["replicas"] == 0


def test_fleet_sleeps_and_refuses_an_upgrade_of_a_sleeping_cluster(play, k8s, klass, uniq, cleanup):  # noqa: F811
    tenant = fleet(uniq[:5], 1)[0]
    cleanup.append(tenant["name"])
    ns = "tenant-" + tenant["name"]
    cluster = dict(tenant["clusters"][0], control_plane={"replicas": 2, "service_type": "LoadBalancer"})
    play([fleet_task([dict(tenant, clusters=[cluster])], klass)])
    asleep = dict(tenant, clusters=[dict(cluster, sleep=True)])
    run = play([fleet_task([asleep], klass), fleet_task([asleep], klass)])
    assert run[0]["changed"] and run[1]["changed"] is False
    live = get_cluster(k8s, ns, "c1")
    assert replicas(live) == 0 and annotations(live)[WAKE] == "2"
    upgrade = play([dict(fleet_task([dict(tenant, clusters=[dict(cluster, version="v1.35.0")])], klass), ignore_errors=True)])
    assert upgrade[0]["failed"] and "wake it first" in upgrade[0]["msg"] and "tenants[0] (%s).clusters[0]" % tenant["name"] in upgrade[0]["msg"]
    assert upgrade.writes == []
    woke = play([fleet_task([dict(tenant, clusters=[dict(cluster, sleep=False, control_plane={"service_type": "LoadBalancer"})])], klass)])
    assert woke[0]["changed"] and replicas(get_cluster(k8s, ns, "c1")) == 2


VERSIONS = ["v1.34.1", "v1.34.2", "v1.35.0", "v1.36.0"]


def tenant_control_plane(k8s, ns, name, version, status):
    """Kamaji's TenantControlPlane of the KamajiControlPlane NAME, with the version and status it reports."""
    custom = client.CustomObjectsApi(k8s)
    body = {"apiVersion": "kamaji.clastix.io/v1alpha1", "kind": "TenantControlPlane", "metadata": {"name": name},
            "spec": {"controlPlane": {"deployment": {"replicas": 2}, "service": {"serviceType": "LoadBalancer"}},
                     "kubernetes": {"version": version, "kubelet": {"cgroupfs": "systemd"}}, "networkProfile": {}}}
    try:
        custom.create_namespaced_custom_object(*KAMAJI, ns, "tenantcontrolplanes", body)
    except client.ApiException as err:
        if err.status != 409:
            raise
    custom.patch_namespaced_custom_object_status(*KAMAJI, ns, "tenantcontrolplanes", name, {
        "status": {"kubernetesResources": {"version": {"version": version, "status": status}}}})


def test_upgrade_guards_refuse_before_any_write(play, k8s, klass, tmp_path):
    ns = klass
    play([task("tenant_cluster", **args(ns, control_plane={"replicas": 2}, available_versions=VERSIONS))])
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"images": [
        {"ref": "registry.k8s.io/kube-apiserver:%s" % v, "source": "runtime:kamaji-tenant %s" % v} for v in ("v1.34.1", "v1.35.0")]
        + [{"ref": "registry.k8s.io/kube-apiserver:v1.35.1", "source": "kubeadm"}]}))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [{"ref": "registry.k8s.io/kube-apiserver:v1.34.4", "source": "kubeadm"}]}))
    run = play([task("tenant_cluster", ignore_errors=True, **args(ns, version=v, **extra)) for v, extra in [
        ("v1.33.9", {"available_versions": VERSIONS}),
        ("v1.36.0", {"available_versions": VERSIONS}),
        ("v1.35.3", {"available_versions": VERSIONS}),
        ("v1.35.1", {"artifact_manifest": str(manifest)}),
        ("v1.35.0", {"artifact_manifest": str(tmp_path / "missing.json")}),
        ("v1.35.0", {"artifact_manifest": str(empty)}),
        ("v1.35.0", {"artifact_manifest": str(manifest), "available_versions": VERSIONS}),
        ("v1.35.0", {"available_versions": ["1.35"]}),
    ]])
    down, skip, absent, not_in_manifest, missing, no_tenants, both, bad_list = run.results
    assert "v1.33.9 is older than the running v1.34.1: a control plane is never downgraded" in down["msg"]
    assert "v1.36.0 skips a minor version from v1.34.1: upgrade one minor at a time (next: v1.35.x)" in skip["msg"]
    assert "v1.35.3 is not in available_versions (it holds: v1.34.1, v1.34.2, v1.35.0, v1.36.0)" in absent["msg"]
    assert "v1.35.1 is not in the artifact manifest %s (it holds: v1.34.1, v1.35.0)" % manifest in not_in_manifest["msg"]
    assert "artifact_manifest: %s cannot be read as the platform's artifact manifest" % (tmp_path / "missing.json") in missing["msg"]
    assert "lists no tenant Kubernetes versions" in no_tenants["msg"]
    assert "give available_versions or artifact_manifest, not both" in both["msg"]
    assert "available_versions[0]: '1.35' is not a Kubernetes version" in bad_list["msg"]
    for result in (missing, no_tenants, both, bad_list):
        assert "api_requests" not in result  # refused before any request
    assert all(r["failed"] for r in run.results) and run.writes == []
    assert get_cluster(k8s, ns, "dev")["spec"]["topology"]["version"] == "v1.34.1"


def test_upgrade_waits_for_the_control_plane_and_says_how_long(play, k8s, klass, tmp_path):
    ns = klass
    play([task("tenant_cluster", **args(ns, control_plane={"replicas": 2}))])
    name = control_plane(k8s, ns, "dev", replicas_=2)
    tenant_control_plane(k8s, ns, name, "v1.34.1", "Ready")
    target = args(ns, version="v1.35.0", available_versions=VERSIONS)
    predicted = play([task("tenant_cluster", **target)], check=True)
    assert predicted[0]["changed"] and predicted[0]["upgrade"] == {"from": "v1.34.1", "to": "v1.35.0"} and predicted.writes == []

    waiting = play([task("tenant_cluster", **dict(target, wait=True, wait_for=["ControlPlaneAvailable"], wait_timeout=90))], background=True)
    until(lambda: get_cluster(k8s, ns, "dev")["spec"]["topology"]["version"] == "v1.35.0")
    tenant_control_plane(k8s, ns, name, "v1.34.1", "Upgrading")  # blue/green: the new pods come up beside the old
    time.sleep(2)
    tenant_control_plane(k8s, ns, name, "v1.35.0", "Ready")
    kcp_status(k8s, ns, name, version="v1.35.0", replicas_=2, ready=2)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(*CAPI, ns, "clusters", "dev", {"status": {"conditions": [
        {"type": "ControlPlaneAvailable", "status": "True", "reason": "Test", "message": "", "lastTransitionTime": now}]}})
    done = waiting()[0]
    assert done["changed"] and done["upgrade"]["from"] == "v1.34.1" and done["upgrade"]["to"] == "v1.35.0"
    assert 2 <= done["upgrade"]["seconds"] < 90  # the Upgrading phase lasted 2 s
    assert done["control_plane"]["version"] == "v1.35.0" and done["control_plane"]["status"] == "Ready"
    again = play([task("tenant_cluster", **target)])
    assert again[0]["changed"] is False and "upgrade" not in again[0]


def test_fleet_refuses_a_downgrade_with_its_available_versions(play, k8s, klass, uniq, cleanup):  # noqa: F811
    tenant = fleet(uniq[:5], 1)[0]
    cleanup.append(tenant["name"])
    cluster = dict(tenant["clusters"][0], version="v1.34.1")
    play([fleet_task([dict(tenant, clusters=[cluster])], klass, available_versions=VERSIONS)])
    down = play([dict(fleet_task([dict(tenant, clusters=[dict(cluster, version="v1.33.0")])], klass, available_versions=VERSIONS), ignore_errors=True),
                 fleet_task([dict(tenant, clusters=[dict(cluster, version="v1.34.2")])], klass, available_versions=VERSIONS)])
    assert down[0]["failed"] and "never downgraded" in down[0]["msg"] and "tenants[0] (%s).clusters[0]" % tenant["name"] in down[0]["msg"]
    assert down[1]["changed"] and len(down.writes) == 1
    assert get_cluster(k8s, "tenant-" + tenant["name"], "c1")["spec"]["topology"]["version"] == "v1.34.2"


def test_the_kubeconfig_of_a_sleeping_cluster_is_fetched_and_its_api_not_asked(play, k8s, klass, module_identity, tmp_path):
    """A sleeping control plane has no API to answer: tenant_kubeconfig keeps the file current, says `sleeping` and asks
    nothing (here the kubeconfig points where nothing listens). The host test checks a cluster kept asleep."""
    from test_tenant_kubeconfig import kubeconfig_secret, lab_config

    ns = klass
    config = lab_config(module_identity)
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"  # nothing listens there
    kubeconfig_secret(k8s, ns, "dev", config)
    dest = tmp_path / "dev.kubeconfig"
    fetch = task("tenant_kubeconfig", name="dev", namespace=ns, dest=str(dest), wait_timeout=5, ignore_errors=True)
    run = play([task("tenant_cluster", **args(ns, control_plane={"replicas": 1, "service_type": "LoadBalancer"})), fetch,
                task("tenant_cluster", **args(ns, sleep=True)), fetch])
    awake, asleep = run.results[1], run.results[3]
    assert awake["failed"] and "the tenant API at https://127.0.0.1:1 does not answer" in awake["msg"], awake
    assert not asleep.get("failed") and asleep["sleeping"] is True and "version" not in asleep, asleep
    assert dest.stat().st_mode & 0o777 == 0o600


def test_a_deletion_that_does_not_finish_names_what_holds_the_cluster(play, k8s, klass):
    """A cluster whose workers no controller deletes (KubeVirt VMs on a site without KubeVirt) stays: the timeout
    names Cluster API's Deleting condition and the finalizers left, not just the time waited."""
    ns = klass
    play([task("tenant_cluster", **args(ns))])
    custom = client.CustomObjectsApi(k8s)
    custom.patch_namespaced_custom_object(*CAPI, ns, "clusters", "dev", {"metadata": {"finalizers": ["cluster.cluster.x-k8s.io"]}})
    # what CAPI's cluster controller reports while MachineDeployment md-0's machines are still being deleted
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    custom.patch_namespaced_custom_object_status(*CAPI, ns, "clusters", "dev", {"status": {"conditions": [
        {"type": "Deleting", "status": "True", "reason": "WaitingForWorkersDeletion", "lastTransitionTime": now,
         "message": "* MachineDeployments: md-0\n* Machines: dev-md-0-abcde"}]}})
    try:
        gone = play([task("tenant_cluster", name="dev", namespace=ns, state="absent", wait=True, wait_timeout=3, ignore_errors=True)])[0]
        assert gone["failed"] and "timed out after 3s waiting for the cluster to be deleted" in gone["msg"], gone
        assert "Cluster API says WaitingForWorkersDeletion: * MachineDeployments: md-0 * Machines: dev-md-0-abcde" in gone["msg"], gone["msg"]
        assert "finalizers left: cluster.cluster.x-k8s.io" in gone["msg"], gone["msg"]
    finally:
        custom.patch_namespaced_custom_object(*CAPI, ns, "clusters", "dev", {"metadata": {"finalizers": None}})
    until(lambda: get_cluster(k8s, ns, "dev") is None)
