"""kmetal.platform.vpc and kmetal.platform.subnet through ansible-playbook against the lab API."""

from kmetal_tasks import bad_input, task
from kubernetes import client

KUBEOVN = ("kubeovn.io", "v1")


def get(k8s, plural, name):
    try:
        return client.CustomObjectsApi(k8s).get_cluster_custom_object(*KUBEOVN, plural, name)
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise


def test_vpc_lifecycle(play, k8s, uniq):
    name = "vpc-%s" % uniq
    args = {"name": name, "tenant": "t-" + uniq, "platform_cidrs": ["10.96.0.0/16", "192.168.10.0/24"]}
    predicted = play([task("vpc", **args)], check=True)
    assert predicted[0]["changed"] is True and predicted[0]["vpc"]["spec"]["policyRoutes"][0]["action"] == "drop"
    assert predicted.writes == [] and get(k8s, "vpcs", name) is None

    change = dict(args, enable_external=True, external_next_hop="172.31.0.1")
    run = play([task("vpc", **args), task("vpc", **args), task("vpc", **change), task("vpc", **change)])
    create, again, changed, settled = run.results
    assert create["changed"] is True and again["changed"] is False and again["api_requests"] == 1
    assert changed["changed"] is True and settled["changed"] is False
    assert changed["diff"]["before"]["spec"]["enableExternal"] is False and changed["diff"]["after"]["spec"]["enableExternal"] is True
    assert changed["diff"]["after"]["spec"]["staticRoutes"] == [{"policy": "policyDst", "cidr": "0.0.0.0/0", "nextHopIP": "172.31.0.1"}]
    live = get(k8s, "vpcs", name)
    assert live["spec"]["namespaces"] == ["tenant-t-%s" % uniq]
    assert {r["match"] for r in live["spec"]["policyRoutes"]} == {"ip4.dst == 10.96.0.0/16", "ip4.dst == 192.168.10.0/24"}
    assert len(run.writes) == 2

    # a subnet in it: absent refuses without force
    client.CustomObjectsApi(k8s).create_cluster_custom_object(*KUBEOVN, "subnets", {
        "apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": "in-" + name}, "spec": {"vpc": name, "cidrBlock": "10.9.0.0/24", "protocol": "IPv4"}})
    gone = play([task("vpc", name=name, state="absent", ignore_errors=True), task("vpc", name=name, state="absent", check_mode=True, force=True),
                 task("vpc", name=name, state="absent", force=True), task("vpc", name=name, state="absent")])
    assert "refusing to delete the VPC while subnets ['in-%s'] are in it" % name in gone[0]["msg"]
    assert gone[1]["changed"] is True and gone[2]["changed"] is True and gone[3]["changed"] is False
    assert [w["verb"] for w in gone.writes] == ["delete"] and get(k8s, "vpcs", name) is None
    client.CustomObjectsApi(k8s).delete_cluster_custom_object(*KUBEOVN, "subnets", "in-" + name)


VPC_BAD = [
    ({"name": "Bad"}, "name: 'Bad' is not a valid name"),
    ({"name": "ok", "platform_cidrs": ["10.96.0.0/33"]}, "platform_cidrs[0]: '10.96.0.0/33' is not a CIDR"),
    ({"name": "ok", "platform_cidrs": ["10.96.0.1/16"]}, "host bits set: the network is 10.96.0.0/16"),
    ({"name": "ok", "platform_cidrs": ["10.96.0.0/16", "10.96.0.0/16"]}, "given twice"),
    ({"name": "ok", "platform_drop_priority": 99999}, "platform_drop_priority: 99999 is out of range"),
    ({"name": "ok", "policy_routes": [{"priority": 40000, "match": "ip4.dst == 1.0.0.0/8", "action": "drop"}]}, "policy_routes[0].priority"),
    ({"name": "ok", "policy_routes": [{"priority": 10, "match": "ip4.src == 1.0.0.0/8", "action": "reroute"}]}, "next_hop_ip: is required with action reroute"),
    ({"name": "ok", "policy_routes": [{"priority": 10, "match": "x", "action": "jump"}]}, "value of action must be one of"),
    ({"name": "ok", "static_routes": [{"cidr": "10.0.0.0/8", "next_hop_ip": "10.0.0.300"}]}, "static_routes[0].next_hop_ip"),
    ({"name": "ok", "static_routes": [{"cidr": "fd00::/8", "next_hop_ip": "10.0.0.1"}]}, "IPv4 address where an IPv6 one is needed"),
    ({"name": "ok", "external_next_hop": "172.31.0.1"}, "external_next_hop: needs enable_external: true"),
    ({"name": "ok", "namespaces": ["Tenant_A"]}, "namespaces[0]"),
]


def test_vpc_bad_input_fails_before_any_write(play, uniq):
    cases = [(dict(args, name=args["name"] + "-" + uniq if args["name"] == "ok" else args["name"]), words) for args, words in VPC_BAD]
    results, run = bad_input(play, "vpc", cases)
    for (args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.writes == [] and run.requests == 0


def test_subnet_lifecycle(play, k8s, uniq):
    vpc, other_vpc = "vpc-%s" % uniq, "oth-%s" % uniq
    a, b, c = "a-%s" % uniq, "b-%s" % uniq, "c-%s" % uniq
    setup = play([task("vpc", name=vpc, tenant="t-" + uniq), task("vpc", name=other_vpc, tenant="u-" + uniq)])
    assert all(r["changed"] for r in setup.results)

    args = {"name": a, "vpc": vpc, "cidr": ["10.200.0.0/24", "fd00:200::/64"], "exclude_ips": ["10.200.0.2..10.200.0.9"]}
    predicted = play([task("subnet", **args)], check=True)
    assert predicted[0]["changed"] is True and predicted[0]["subnet"]["spec"]["gateway"] == "10.200.0.1,fd00:200::1"
    assert predicted.writes == [] and get(k8s, "subnets", a) is None

    change = dict(args, nat_outgoing=True, mtu=8900)
    run = play([
        task("subnet", **args), task("subnet", **args), task("subnet", **change), task("subnet", **change),
        # overlap in the same VPC: an error naming the other subnet; the same range in another VPC: fine
        task("subnet", name=b, vpc=vpc, cidr=["10.200.0.128/25"], ignore_errors=True),
        task("subnet", name=c, vpc=other_vpc, cidr=["10.200.0.0/24"]),
        # immutable fields
        task("subnet", **dict(change, cidr=["10.201.0.0/24", "fd00:200::/64"], exclude_ips=None, ignore_errors=True)),
        task("subnet", **dict(change, vpc=other_vpc, ignore_errors=True)),
        task("subnet", **dict(change, cidr=["10.200.0.0/24"], ignore_errors=True)),
    ])
    create, again, changed, settled, overlap, other, cidr_change, vpc_change, protocol_change = run.results
    assert create["changed"] is True and create["subnet"]["metadata"]["labels"]["kmetal.io/tenant"] == "t-" + uniq
    assert again["changed"] is False and again["api_requests"] == 1
    assert changed["changed"] is True and settled["changed"] is False
    assert "natOutgoing" not in changed["diff"]["before"]["spec"] and changed["diff"]["after"]["spec"]["mtu"] == 8900
    assert "cidr: 10.200.0.128/25 overlaps 10.200.0.0/24 of subnet %s in the same VPC %s" % (a, vpc) in overlap["msg"]
    assert other["changed"] is True
    assert "cidr: cannot change cidrBlock from 10.200.0.0/24,fd00:200::/64 to 10.201.0.0/24,fd00:200::/64" in cidr_change["msg"]
    assert "vpc: cannot change vpc from %s to %s" % (vpc, other_vpc) in vpc_change["msg"]
    assert "protocol: cannot change protocol from Dual to IPv4" in protocol_change["msg"]
    assert len(run.writes) == 3  # create, change, the subnet in the other VPC
    assert get(k8s, "subnets", b) is None

    # an address in use: absent refuses without force
    client.CustomObjectsApi(k8s).create_cluster_custom_object(*KUBEOVN, "ips", {
        "apiVersion": "kubeovn.io/v1", "kind": "IP", "metadata": {"name": "pod-x." + a, "labels": {"ovn.kubernetes.io/subnet": a}},
        "spec": {"subnet": a, "ipAddress": "10.200.0.20", "podName": "x", "namespace": "tenant-t-" + uniq}})
    gone = play([task("subnet", name=a, state="absent", ignore_errors=True), task("subnet", name=a, state="absent", force=True, check_mode=True),
                 task("subnet", name=a, state="absent", force=True), task("subnet", name=a, state="absent"),
                 task("subnet", name=c, state="absent"), task("vpc", name=vpc, state="absent"), task("vpc", name=other_vpc, state="absent")])
    assert "refusing to delete the subnet while 1 addresses are in use (pod-x.%s)" % a in gone[0]["msg"]
    assert [r["changed"] for r in gone.results[1:]] == [True, True, False, True, True, True]
    assert [w["verb"] for w in gone.writes] == ["delete"] * 4
    client.CustomObjectsApi(k8s).delete_cluster_custom_object(*KUBEOVN, "ips", "pod-x." + a)


def test_subnet_vlan_mode(play, k8s, uniq):
    name = "v-%s" % uniq
    args = {"name": name, "vpc": "ovn-cluster", "cidr": ["192.168.205.0/24"], "gateway": ["192.168.205.254"], "mode": "vlan",
            "vlan": {"id": 205, "provider": "data" + uniq}}
    run = play([task("subnet", **args), task("subnet", **args), task("subnet", name=name, state="absent")])
    assert run[0]["changed"] is True and run[0]["subnet"]["spec"]["vlan"] == "data%s-vlan205" % uniq
    assert run[1]["changed"] is False and run[2]["changed"] is True
    vlan = get(k8s, "vlans", "data%s-vlan205" % uniq)
    assert vlan["spec"] == {"id": 205, "provider": "data" + uniq}
    client.CustomObjectsApi(k8s).delete_cluster_custom_object(*KUBEOVN, "vlans", "data%s-vlan205" % uniq)


SUBNET_BAD = [
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/33"]}, "cidr[0]: '10.0.0.0/33' is not a CIDR"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.7/24"]}, "has host bits set: the network is 10.0.0.0/24"),
    ({"name": "ok", "vpc": "v"}, "cidr: is required"),
    ({"name": "ok", "cidr": ["10.0.0.0/24"]}, "vpc: is required"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "gateway": ["10.0.1.1"]}, "gateway: 10.0.1.1 is not a usable address of 10.0.0.0/24"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "gateway": ["10.0.0.255"]}, "not a usable address"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "protocol": "IPv6"}, "protocol: IPv6 does not match the cidr"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24", "10.1.0.0/24"]}, "at most one IPv4 and one IPv6"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "exclude_ips": ["10.9.9.9"]}, "exclude_ips[0]: '10.9.9.9' is outside"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "mtu": 70000}, "mtu: 70000 is out of range"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "mode": "vlan"}, "vlan: is required with mode vlan"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "mode": "vlan", "vlan": {"id": 4095, "provider": "data"}}, "vlan.id: 4095 is out of range"),
    ({"name": "ok", "vpc": "v", "cidr": ["10.0.0.0/24"], "allow_subnets": ["10.1.0.0/16"]}, "only applies to a private subnet"),
    ({"name": "Bad_Name", "vpc": "v", "cidr": ["10.0.0.0/24"]}, "name: 'Bad_Name' is not a valid name"),
]


def test_subnet_bad_input_fails_before_any_write(play, uniq):
    cases = [(dict(args, name=args["name"] + "-" + uniq if args["name"] == "ok" else args["name"]), words) for args, words in SUBNET_BAD]
    results, run = bad_input(play, "subnet", cases)
    for (args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.writes == [] and run.requests == 0


def test_subnet_in_a_missing_vpc_is_refused_before_any_write(play, uniq):
    run = play([task("subnet", name="s-" + uniq, vpc="nope-" + uniq, cidr=["10.0.0.0/24"], ignore_errors=True)])
    assert "the VPC nope-%s does not exist: create it first" % uniq in run[0]["msg"]
    assert run.writes == []
