"""The tenant cluster's lifecycle through ansible-playbook against the lab API (the real Cluster API, Kamaji and
Kamaji CAPI provider CRDs): sleep and wake, and guarded upgrades. No controller runs there, so what Kamaji would
report (a KamajiControlPlane's status, a TenantControlPlane's version) is written through the status subresource
while the module waits, as Kamaji would."""

import time

import pytest
from kmetal_tasks import task
from kubernetes import client
from test_tenant_cluster_module import CAPI, cluster_class, get_cluster
from test_tenant_fleet import cleanup, fleet, fleet_task  # noqa: F401  (fixtures)

KCP = ("controlplane.cluster.x-k8s.io", "v1alpha2")
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
        "apiVersion": "controlplane.cluster.x-k8s.io/v1alpha2", "kind": "KamajiControlPlane", "metadata": {"name": name},
        "spec": {"dataStoreName": "default", "version": version, "replicas": replicas_, "network": {"serviceType": "LoadBalancer"},
                 "kubelet": {"cgroupfs": "systemd"}, "addons": {}}})
    custom.patch_namespaced_custom_object(*CAPI, ns, "clusters", cluster, {"spec": {"controlPlaneRef": {
        "apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KamajiControlPlane", "name": name}}}, field_manager="capi-topology")
    kcp_status(k8s, ns, name, version=version, replicas_=replicas_, ready=replicas_)
    return name


def kcp_status(k8s, ns, name, version, replicas_, ready):
    client.CustomObjectsApi(k8s).patch_namespaced_custom_object_status(*KCP, ns, "kamajicontrolplanes", name, {
        "status": {"version": version, "replicas": replicas_, "readyReplicas": ready, "availableReplicas": ready, "ready": ready > 0,
                   "externalManagedControlPlane": True}})


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
    time.sleep(4)
    assert replicas(get_cluster(k8s, ns, "dev")) == 0  # written, now waiting for the control plane
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
