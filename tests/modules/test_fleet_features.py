"""tenant_fleet at fleet scale: prune with its guard, absent entries with the in-use guards, partial failure with a
status per tenant, fail_fast, and concurrent writers that write each object once."""

import yaml
from kmetal_tasks import task
from kubernetes import client
from test_tenant_fleet import cleanup, fleet, klass  # noqa: F401  (fixtures)

KUBEOVN = ("kubeovn.io", "v1")


def fleet_task(tenants, class_ns, **extra):
    return task("tenant_fleet", tenants=tenants, platform_cidrs=["198.18.1.0/24"], class_namespace=class_ns, machine_size="small", **extra)


def by_name(result):
    return {r["name"]: r for r in result["tenant_results"]}


def test_prune_removes_only_undeclared_managed_tenants_within_its_limit(play, k8s, klass, uniq, cleanup):  # noqa: F811
    tenants = [dict(t, labels={"kmetal.io/test-fleet": uniq}) for t in fleet(uniq[:5], 4)]  # the prune's scope: this test's fleet
    cleanup.extend(t["name"] for t in tenants)
    created = play([fleet_task(tenants, klass, workers=4)])
    assert created[0]["changed"] and len(created.writes) == 4 * 7  # concurrent writers, each object written once
    # a hand-made namespace carrying the same labels but not the managed-by label is never pruned
    foreign = "tenant-hand-%s" % uniq
    client.CoreV1Api(k8s).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=foreign, labels={"kmetal.io/tenant": "hand-" + uniq, "kmetal.io/test-fleet": uniq})))
    kept, gone = tenants[:1], {t["name"] for t in tenants[1:]}
    scope = {"prune": True, "prune_selector": "kmetal.io/test-fleet=" + uniq}
    over = play([dict(fleet_task(kept, klass, prune_max=2, **scope), ignore_errors=True)])
    assert over[0]["failed"] and "prune would remove 3 tenants" in over[0]["msg"] and "more than prune_max 2" in over[0]["msg"]
    assert set(over[0]["pruned"]) == gone and over.writes == []
    bad = play([dict(fleet_task(kept, klass, prune=True, prune_selector="a!=b"), ignore_errors=True)])
    assert "prune_selector" in bad[0]["msg"] and bad.requests == 0
    # check mode lists what would go and writes nothing
    predicted = play([fleet_task(kept, klass, prune_max=3, **scope)], check=True)
    assert predicted.writes == [] and {n for n, r in by_name(predicted[0]).items() if r["status"] == "pruned"} == gone
    pruned = play([fleet_task(kept, klass, prune_max=3, **scope)])
    results = by_name(pruned[0])
    assert {n for n, r in results.items() if r["status"] == "pruned"} == gone
    assert results[kept[0]["name"]]["status"] == "unchanged"
    assert client.CoreV1Api(k8s).read_namespace(foreign).metadata.name == foreign
    client.CoreV1Api(k8s).delete_namespace(foreign)


def test_one_failure_does_not_stop_the_others_unless_fail_fast(play, k8s, klass, uniq, cleanup):  # noqa: F811
    a, b, c = ("p%s-%s" % (x, uniq[:5]) for x in "abc")
    cleanup.extend([a, b, c])
    play([fleet_task([{"name": a}], klass)])
    # b claims a's namespace: refused; c goes ahead
    run = play([dict(fleet_task([{"name": b, "namespace": "tenant-" + a}, {"name": c}], klass), ignore_errors=True)])
    result = run[0]
    assert result["failed"] and result["changed"] is True and "belongs to tenant" in result["msg"]
    assert by_name(result)[b]["status"] == "failed" and "belongs to tenant" in by_name(result)[b]["reason"]
    assert by_name(result)[c]["status"] == "created" and "Namespace tenant-%s" % c in result["written"]
    # fail_fast: the refusal stops the run before any write
    d = "pd-%s" % uniq[:5]
    cleanup.append(d)
    stopped = play([dict(fleet_task([{"name": b, "namespace": "tenant-" + a}, {"name": d}], klass, fail_fast=True), ignore_errors=True)])
    assert stopped[0]["failed"] and stopped.writes == [] and stopped[0]["changed"] is False


def test_absent_entry_keeps_the_subnet_in_use_guard(play, k8s, klass, uniq, cleanup):  # noqa: F811
    tenants = fleet(uniq[:5], 2)
    cleanup.extend(t["name"] for t in tenants)
    play([fleet_task(tenants, klass)])
    busy = tenants[0]["name"] + "-a"
    client.CustomObjectsApi(k8s).create_cluster_custom_object(*KUBEOVN, "ips", {
        "apiVersion": "kubeovn.io/v1", "kind": "IP", "metadata": {"name": "pod-x." + busy, "labels": {"ovn.kubernetes.io/subnet": busy}},
        "spec": {"subnet": busy, "ipAddress": "10.200.0.20", "podName": "x", "namespace": "tenant-" + tenants[0]["name"]}})
    run = play([dict(fleet_task([dict(t, state="absent") for t in tenants], klass), ignore_errors=True)])
    results = by_name(run[0])
    assert results[tenants[0]["name"]]["status"] == "failed" and "addresses are in use (pod-x.%s)" % busy in results[tenants[0]["name"]]["reason"]
    assert results[tenants[1]["name"]]["status"] == "removed"
    assert "Subnet %s" % busy not in run[0]["written"]
    client.CustomObjectsApi(k8s).delete_cluster_custom_object(*KUBEOVN, "ips", "pod-x." + busy)
    again = play([fleet_task([dict(tenants[0], state="absent")], klass)])
    assert by_name(again[0])[tenants[0]["name"]]["status"] == "removed"


def test_tenants_file_is_the_same_fleet_as_the_list(play, klass, uniq, cleanup, tmp_path):  # noqa: F811
    tenants = fleet(uniq[:5], 2)
    cleanup.extend(t["name"] for t in tenants)
    created = play([fleet_task(tenants, klass)])
    assert created[0]["changed"]
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump({"kmetal_tenants": tenants}))
    from_file = play([dict(task("tenant_fleet", tenants_file=str(path), platform_cidrs=["198.18.1.0/24"], class_namespace=klass,
                                machine_size="small"))])
    assert from_file[0]["changed"] is False and from_file.writes == [] and from_file[0]["tenants"] == [t["name"] for t in tenants]
    both = play([dict(fleet_task(tenants, klass, tenants_file=str(path)), ignore_errors=True), dict(task("tenant_fleet"), ignore_errors=True)])
    assert "mutually exclusive: tenants|tenants_file" in both[0]["msg"] and "one of the following is required: tenants, tenants_file" in both[1]["msg"]
    assert both.requests == 0


def test_prune_releases_an_adopted_namespace_and_never_deletes_it(play, k8s, klass, uniq, cleanup, namespace):  # noqa: F811
    """An adopted namespace carries the collection's labels while adopted: a prune takes back only what the tenant
    added (quota, limits, binding, labels) and leaves the namespace and what it held."""
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="precious"), data={"a": "b"}))
    name, kept = "ad-" + uniq[:6], "ak-" + uniq[:6]
    cleanup.append(kept)
    scope = {"labels": {"kmetal.io/test-fleet": uniq}}
    adopted = play([fleet_task([dict(scope, name=name, namespace=namespace, adopt_namespace=True), dict(scope, name=kept)], klass)])
    assert adopted[0]["changed"] and "kmetal.io/tenant" in (core.read_namespace(namespace).metadata.labels or {})
    pruned = play([fleet_task([dict(scope, name=kept)], klass, prune=True, prune_selector="kmetal.io/test-fleet=" + uniq)])
    assert by_name(pruned[0])[name]["status"] == "pruned"
    assert not any(w["verb"] == "delete" and w["objectRef"]["resource"] == "namespaces" for w in pruned.writes)
    assert core.read_namespaced_config_map("precious", namespace).data == {"a": "b"}
    assert core.list_namespaced_resource_quota(namespace).items == [] and core.list_namespaced_limit_range(namespace).items == []
    assert "kmetal.io/tenant" not in (core.read_namespace(namespace).metadata.labels or {})
