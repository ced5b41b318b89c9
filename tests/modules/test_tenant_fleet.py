"""kmetal.platform.tenant_fleet and the tenants role's bulk path through ansible-playbook against the lab API: a fleet
created in one call, a no-op re-run whose requests do not grow with the fleet, honest check mode, a change that
touches only its tenant, and bad input in one tenant refused for the whole fleet before any request."""

import time

import pytest
from kmetal_tasks import task
from kubernetes import client
from test_tenant_cluster_module import CAPI, cluster_class

KINDS = 7  # Namespace, ResourceQuota, LimitRange, RoleBinding, Vpc, Subnet, Cluster: one LIST each


@pytest.fixture
def klass(k8s, namespace):
    client.CustomObjectsApi(k8s).create_namespaced_custom_object(*CAPI, namespace, "clusterclasses", cluster_class("kubevirt-kubeadm"))
    return namespace


def fleet(tag, count):
    out = []
    for i in range(count):
        name = "f%s-%02d" % (tag, i)
        out.append({
            "name": name, "admins": {"users": ["admin@%s.example" % name]}, "quota": {"cpu": "8", "memory": "32Gi", "tenant_control_planes": 2},
            "subnets": [{"name": name + "-a", "cidr": ["10.200.0.0/24"]}],  # the same range in every tenant: each VPC is its own domain
            "clusters": [{"name": "c1", "subnet": name + "-a", "bootstrap_server_address": "198.18.1.201",
                          "control_plane": {"replicas": 1, "service_type": "LoadBalancer"}, "workers": [{"name": "md-0", "replicas": 1}]}],
        })
    return out


def fleet_task(tenants, class_ns, **extra):
    return task("tenant_fleet", tenants=tenants, platform_cidrs=["198.18.1.0/24"], class_namespace=class_ns, machine_size="small", **extra)


@pytest.fixture
def cleanup(k8s):
    names = []
    yield names
    core, custom = client.CoreV1Api(k8s), client.CustomObjectsApi(k8s)
    for name in names:
        for call in (lambda: custom.delete_cluster_custom_object("kubeovn.io", "v1", "subnets", name + "-a"),
                     lambda: custom.delete_cluster_custom_object("kubeovn.io", "v1", "vpcs", name),
                     lambda: core.delete_namespace("tenant-" + name)):
            try:
                call()
            except client.ApiException as err:
                if err.status != 404:
                    raise


def test_fleet_of_twenty_in_one_call(play, k8s, klass, uniq, cleanup):
    tenants = fleet(uniq[:5], 20)
    cleanup.extend(t["name"] for t in tenants)

    predicted = play([fleet_task(tenants, klass)], check=True)
    assert predicted[0]["changed"] is True and len(predicted[0]["changed_objects"]) == 20 * 7
    assert predicted.writes == []  # check mode: dry runs only
    assert len(predicted[0]["diff"]) == 20 * 7

    created = play([fleet_task(tenants, klass)])
    assert created[0]["changed"] is True and created[0]["objects"] == 20 * 7 == len(created[0]["changed_objects"])
    assert len(created.writes) == 20 * 7  # one apply per object
    assert created[0]["tenants"] == [t["name"] for t in tenants]
    ns = "tenant-" + tenants[7]["name"]
    quota = client.CoreV1Api(k8s).read_namespaced_resource_quota("kmetal-tenant-quota", ns)
    assert quota.spec.hard["requests.cpu"] == "8" and quota.spec.hard["count/tenantcontrolplanes.kamaji.clastix.io"] == "2"
    cluster = client.CustomObjectsApi(k8s).get_namespaced_custom_object(*CAPI, ns, "clusters", "c1")
    assert cluster["spec"]["topology"]["classRef"] == {"name": "kubevirt-kubeadm", "namespace": klass}
    vpc = client.CustomObjectsApi(k8s).get_cluster_custom_object("kubeovn.io", "v1", "vpcs", tenants[7]["name"])
    assert {"priority": 31000, "match": "ip4.dst == 198.18.1.0/24", "action": "drop"} in vpc["spec"]["policyRoutes"]

    # no change: one LIST per kind for the whole fleet, nothing written; the same for a fleet of 5 or of 20
    again = play([fleet_task(tenants, klass), fleet_task(tenants[:5], klass)])
    for result in again.results:
        assert result["changed"] is False and result["changed_objects"] == []
        assert result["api_requests"] <= KINDS
    assert again.writes == [] and again.requests == again[0]["api_requests"] + again[1]["api_requests"]

    # a change to one tenant writes only that tenant's object
    changed = [dict(t) for t in tenants]
    changed[3] = dict(changed[3], quota=dict(changed[3]["quota"], cpu="16"))
    one = play([fleet_task(changed, klass), fleet_task(changed, klass)])
    assert one[0]["changed_objects"] == ["ResourceQuota tenant-%s/kmetal-tenant-quota" % tenants[3]["name"]]
    assert len(one.writes) == 1 and tenants[3]["name"] in one.writes[0]["requestURI"]
    assert one[0]["diff"][0]["after"]["spec"]["hard"]["requests.cpu"] == "16" and one[1]["changed"] is False

    # bad input in one tenant: the whole call fails naming that tenant and field, and nothing reaches the API
    bad = [dict(t) for t in changed]
    bad[5] = dict(bad[5], subnets=[{"name": bad[5]["name"] + "-a", "cidr": ["10.200.0.1/24"]}])
    bad[9] = dict(bad[9], quota={"cpu": "lots"})
    refused = play([dict(fleet_task(bad, klass), ignore_errors=True)])
    msg = refused[0]["msg"]
    assert refused[0]["failed"] and refused.requests == 0 and refused.writes == []
    five = tenants[5]["name"]
    assert "tenants[5] (%s).subnets[0]: Subnet %s-a: invalid input: cidr[0]: '10.200.0.1/24' has host bits set" % (five, five) in msg
    assert "tenants[9] (%s): tenant %s: invalid input: quota.cpu: 'lots' is not a Kubernetes quantity" % (tenants[9]["name"], tenants[9]["name"]) in msg
    assert len(refused[0]["problems"]) == 2

    # what only the cluster can tell (a variable against the ClusterClass, an overlap in a VPC) is refused before the first write too
    live_bad = [dict(t) for t in changed]
    live_bad[2] = dict(live_bad[2], clusters=[dict(live_bad[2]["clusters"][0], machine_size="huge")])
    live_bad[4] = dict(live_bad[4], subnets=live_bad[4]["subnets"] + [{"name": live_bad[4]["name"] + "-b", "cidr": ["10.200.0.128/25"]}])
    refused = play([dict(fleet_task(live_bad, klass), ignore_errors=True)])
    msg = refused[0]["msg"]
    assert refused[0]["failed"] and refused.writes == []
    assert "tenants[2] (%s).clusters[0]: Cluster tenant-%s/c1: variables: the variables do not fit" % (tenants[2]["name"], tenants[2]["name"]) in msg
    assert "variables.machineSize: 'huge' is not one of" in msg
    four = tenants[4]["name"]
    assert "tenants[4] (%s).subnets[1]: Subnet %s-b: invalid input: cidr: 10.200.0.128/25 overlaps 10.200.0.0/24" % (four, four) in msg


def test_fleet_refuses_absent_and_foreign_objects(play, klass, uniq, cleanup):
    a, b = "fa%s" % uniq[:5], "fb%s" % uniq[:5]
    cleanup.extend([a, b])
    created = play([fleet_task([{"name": a}], klass)])
    assert created[0]["changed"] is True
    run = play([dict(fleet_task([{"name": b, "namespace": "tenant-" + a}, {"name": "x" + b, "state": "absent"}, {"name": b, "quota": {"cpus": 1}},
                                 {"name": b, "subnetz": []}], klass), ignore_errors=True),
                dict(fleet_task([{"name": b, "namespace": "tenant-" + a}], klass), ignore_errors=True)])
    static, live = run.results
    assert "tenants[2] (%s): name: tenant %s is given twice" % (b, b) in static["msg"]
    assert "tenants[3] (%s).subnetz: is not a known key" % b in static["msg"]
    assert "the namespace belongs to tenant %r" % a in live["msg"] and "tenants[0] (%s)" % b in live["msg"]
    assert run.writes == []


def test_role_reconciles_present_and_absent_tenants_in_one_call(play, k8s, klass, uniq, module_identity, cleanup):
    tenants = fleet(uniq[:5], 3)
    tenants[0]["vpc"] = {"enable_external": True, "external_next_hop": "198.18.1.1",
                         "policy_routes": [{"priority": 1000, "match": "ip4.dst == 10.60.0.0/16", "action": "drop"}]}
    tenants[1]["subnets"][0].update(exclude_ips=["10.200.0.2..10.200.0.9"], nat_outgoing=True)
    tenants[2]["admins"] = {"users": [], "groups": []}
    cleanup.extend(t["name"] for t in tenants)

    def role(tenant_list, check=False):
        role_vars = {"tenants_list": tenant_list, "tenants_kubeconfig": str(module_identity[1]), "tenants_class_namespace": klass,
                     "tenants_platform_cidrs": ["198.18.1.0/24"]}
        run = play([{"name": "tenants role", "ansible.builtin.include_role": {"name": "kmetal.platform.tenants"}, "vars": role_vars}], check=check)
        calls = [r for r in run.results if r.get("action") == "kmetal.platform.tenant_fleet"]
        assert len(calls) == 1 and not calls[0].get("failed"), calls[0].get("msg")  # one module call for the whole fleet
        return calls[0], run

    created, _ = role(tenants)
    assert created["changed"] and [r["status"] for r in created["tenant_results"]] == ["created"] * 3
    again, run = role(tenants)
    assert not again["changed"] and run.writes == []
    gone = [dict(tenants[0], state="absent")] + tenants[1:]
    predicted, run = role(gone, check=True)
    first = tenants[0]["name"]
    assert predicted["changed"] and run.writes == [] and {"name": first, "status": "removed"} in predicted["tenant_results"]
    removed, run = role(gone)
    assert {"name": first, "status": "removed"} in removed["tenant_results"]
    assert [w["objectRef"]["resource"] for w in run.writes] == ["clusters", "subnets", "vpcs", "namespaces"]  # dependency order
    deadline = time.monotonic() + 120  # the namespace controller empties it, then it is gone
    while namespace_exists(k8s, "tenant-" + first) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not namespace_exists(k8s, "tenant-" + first)


def namespace_exists(k8s, name):
    try:
        client.CoreV1Api(k8s).read_namespace(name)
        return True
    except client.ApiException as err:
        if err.status == 404:
            return False
        raise
