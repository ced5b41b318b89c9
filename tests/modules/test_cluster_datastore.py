"""Per-tenant datastores against the lab API (the real Kamaji DataStore CRD): the option creating a tenant's own
DataStore over the chart's dedicated etcd, the cluster referencing it, and a referenced DataStore that does not exist
refused before any write. The data round trip through a real etcd (write, back up, delete, restore) needs the
platform running on the lab's under cluster."""

import pytest
from kmetal_tasks import bad_input, task
from kubernetes import client
from test_cluster_lifecycle import args, klass  # noqa: F401  (fixture)
from test_tenant_cluster_module import get_cluster
from test_tenant_fleet import cleanup, fleet, fleet_task  # noqa: F401  (fixtures)

KAMAJI = ("kamaji.clastix.io", "v1alpha1")


def get_datastore(k8s, name):
    try:
        return client.CustomObjectsApi(k8s).get_cluster_custom_object(*KAMAJI, "datastores", name)
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


@pytest.fixture
def datastores(k8s):
    names = []
    yield names
    for name in names:
        try:
            client.CustomObjectsApi(k8s).delete_cluster_custom_object(*KAMAJI, "datastores", name)
        except client.ApiException as err:
            if err.status != 404:
                raise


def data_store_name(cluster):
    return next(v["value"] for v in cluster["spec"]["topology"]["variables"] if v["name"] == "controlPlane")["dataStoreName"]


def test_a_tenants_own_datastore_is_created_and_referenced(play, k8s, klass, datastores):  # noqa: F811
    ns = klass
    name = "ds-" + ns[-6:]
    datastores.append(name)
    cluster = args(ns, datastore={"name": name, "replicas": 3})
    predicted = play([task("tenant_cluster", **cluster)], check=True)
    assert predicted[0]["changed"] and predicted.writes == [] and get_datastore(k8s, name) is None
    diffs = predicted[0]["diff"]
    assert [d["after"]["kind"] for d in diffs] == ["DataStore", "Cluster"]

    run = play([task("tenant_cluster", **cluster), task("tenant_cluster", **cluster)])
    assert run[0]["changed"] and run[1]["changed"] is False and len(run.writes) == 2
    assert [w["objectRef"]["resource"] for w in run.writes] == ["datastores", "clusters"]  # the DataStore first
    store = get_datastore(k8s, name)
    assert store["spec"]["driver"] == "etcd"
    assert store["spec"]["endpoints"] == ["%s-etcd-%d.%s-etcd.kmetal-flux.svc.cluster.local:2379" % (name, i, name) for i in range(3)]
    tls = store["spec"]["tlsConfig"]
    assert tls["certificateAuthority"]["privateKey"]["secretReference"] == {"name": name + "-etcd-ca", "namespace": "kmetal-flux", "keyPath": "tls.key"}
    assert tls["clientCertificate"]["certificate"]["secretReference"]["name"] == name + "-etcd-root-client"
    assert store["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kmetal-platform"
    assert data_store_name(get_cluster(k8s, ns, "dev")) == name


def test_a_missing_datastore_is_refused_before_any_write(play, k8s, klass, datastores):  # noqa: F811
    ns = klass
    run = play([task("tenant_cluster", ignore_errors=True, **args(ns, control_plane={"data_store_name": "nope"})),
                task("tenant_cluster", ignore_errors=True, check_mode=True, **args(ns, control_plane={"data_store_name": "nope"}))])
    for result in run.results:
        assert result["failed"] and "control_plane.data_store_name: the DataStore nope does not exist (the platform has: " in result["msg"]
        assert "default" in result["msg"] and "give datastore to create the tenant's own" in result["msg"]
    assert run.writes == [] and get_cluster(k8s, ns, "dev") is None
    # a refused cluster writes no DataStore either
    name = "dz-" + ns[-6:]
    datastores.append(name)
    down = play([task("tenant_cluster", **args(ns, available_versions=["v1.34.1"])),
                 task("tenant_cluster", ignore_errors=True, **args(ns, version="v1.33.1", datastore={"name": name}))])
    assert "never downgraded" in down[1]["msg"] and get_datastore(k8s, name) is None and len(down.writes) == 1


def test_a_foreign_or_other_tenants_datastore_is_never_taken_over(play, k8s, klass, datastores):  # noqa: F811
    ns = klass
    foreign = "fr-" + ns[-6:]
    datastores.append(foreign)
    client.CustomObjectsApi(k8s).create_cluster_custom_object(*KAMAJI, "datastores", {
        "apiVersion": "kamaji.clastix.io/v1alpha1", "kind": "DataStore", "metadata": {"name": foreign},
        "spec": {"driver": "etcd", "endpoints": ["hand-made:2379"], "tlsConfig": {"certificateAuthority": {"certificate": {"content": "Y2E="}, "privateKey": {"content": "a2V5"}},
                                                                     "clientCertificate": {"certificate": {"content": "Y2U="}, "privateKey": {"content": "a2V5"}}}}})
    run = play([task("tenant_cluster", ignore_errors=True, **args(ns, datastore={"name": foreign}))])
    assert "DataStore %s: datastore.name: exists and was not created by kmetal.platform: refusing to take it over" % foreign in run[0]["msg"]
    assert run.writes == [] and get_datastore(k8s, foreign)["spec"]["endpoints"] == ["hand-made:2379"]


BAD = [
    ({"datastore": {"replicas": 4}}, "datastore.replicas: 4 etcd members tolerate no more failures than 3: give an odd number"),
    ({"datastore": {"replicas": 9}}, "datastore.replicas: 9 is out of range"),
    ({"datastore": {"name": "Bad_Name"}}, "datastore.name: 'Bad_Name' is not a valid name"),
    ({"datastore": {"name": "d" * 41}}, "the chart names its etcd's objects after it, e.g. <name>-etcd-backup, a CronJob of at most 52"),
    ({"datastore": {}, "control_plane": {"data_store_name": "shared"}}, "control_plane.data_store_name: shared contradicts datastore"),
]


def test_bad_datastore_options_are_refused_before_any_request(play, namespace):
    cases = [(dict(args(namespace), **change), words) for change, words in BAD]
    results, run = bad_input(play, "tenant_cluster", cases)
    for (_args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.writes == [] and run.requests == 0


def test_fleet_gives_a_tenants_clusters_its_own_datastore(play, k8s, klass, uniq, cleanup, datastores):  # noqa: F811
    tenant = dict(fleet(uniq[:5], 1)[0], datastore={"replicas": 1, "backup": {"schedule": "0 3 * * *"}})
    tenant["clusters"].append(dict(tenant["clusters"][0], name="c2"))
    ns = "tenant-" + tenant["name"]
    cleanup.append(tenant["name"])
    datastores.append(ns)
    run = play([fleet_task([tenant], klass), fleet_task([tenant], klass)])
    assert run[0]["changed"] and run[1]["changed"] is False
    assert "DataStore %s" % ns in run[0]["written"]
    assert get_datastore(k8s, ns)["spec"]["endpoints"] == ["%s-etcd-0.%s-etcd.kmetal-flux.svc.cluster.local:2379" % (ns, ns)]
    assert data_store_name(get_cluster(k8s, ns, "c1")) == ns and data_store_name(get_cluster(k8s, ns, "c2")) == ns
