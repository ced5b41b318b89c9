# -*- coding: utf-8 -*-
"""Pure validation: names, addresses, CIDR rules of subnets, VPC routes, cluster inputs, ClusterClass schemas."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kmetal.platform.plugins.module_utils import _cluster, _network, _tenant
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KmetalError
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems, check_class_variables, schema_errors

SUBNET = {"name": "acme-a", "vpc": "acme", "cidr": ["10.200.0.0/24"], "state": "present", "mode": "overlay"}
VPC = {"name": "acme", "tenant": "acme", "state": "present", "static_routes": [], "policy_routes": [], "platform_cidrs": [],
       "platform_drop_priority": 31000, "enable_external": False}
CLUSTER = {"name": "prod", "tenant": "acme", "state": "present", "version": "v1.34.1", "class_name": "kubevirt-kubeadm",
           "class_namespace": "kmetal-capi-providers", "control_plane": {"data_store_name": "default"}, "workers": [], "variables": {},
           "labels": {}, "wait_timeout": 600}
TENANT = {"name": "acme", "state": "present", "labels": {}, "quota": {}, "limits": {}, "wait_timeout": 120}


def error_of(func, params):
    with pytest.raises(KmetalError) as err:
        func(params)
    return str(err.value)


@pytest.mark.parametrize("value", ["Acme", "-acme", "acme-", "a_b", "a.b", "x" * 64, "", "ä"])
def test_bad_names_are_refused_with_the_rule(value):
    problems = Problems("obj")
    assert problems.label_name("name", value) is None
    assert "name:" in problems.items[0]


@given(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z"))
def test_every_dns1123_label_is_accepted(name):
    problems = Problems("obj")
    assert problems.label_name("name", name) == name


@given(st.ip_addresses(v=4), st.integers(min_value=8, max_value=30))
@settings(max_examples=200)
def test_cidr_with_host_bits_names_the_network(addr, prefix):
    net = ipaddress.ip_network("%s/%d" % (addr, prefix), strict=False)
    problems = Problems("obj")
    parsed = problems.cidr("cidr", "%s/%d" % (addr, prefix))
    if addr == net.network_address:
        assert parsed is not None and str(parsed.cidr) == str(net)
    else:
        assert parsed is None and str(net) in problems.items[0]


@given(st.ip_addresses(v=4), st.integers(min_value=16, max_value=28), st.ip_addresses(v=4))
@settings(max_examples=200)
def test_gateway_must_be_inside_the_cidr(base, prefix, gateway):
    net = ipaddress.ip_network("%s/%d" % (base, prefix), strict=False)
    params = dict(SUBNET, cidr=[str(net)], gateway=[str(gateway)])
    inside = gateway in net and gateway not in (net.network_address, net.broadcast_address)
    if inside:
        subnet, _vlan, _nets = _network.build_subnet(params)
        assert subnet["spec"]["gateway"] == str(gateway)
    else:
        assert "gateway:" in error_of(_network.build_subnet, params)


def test_subnet_defaults_protocol_and_first_usable_gateway():
    subnet, vlan, nets = _network.build_subnet(dict(SUBNET, cidr=["fd00:10::/64", "10.200.0.0/24"]))
    assert subnet["spec"] == {"vpc": "acme", "protocol": "Dual", "cidrBlock": "10.200.0.0/24,fd00:10::/64", "gateway": "10.200.0.1,fd00:10::1"}
    assert vlan is None and len(nets) == 2


@pytest.mark.parametrize("change, words", [
    ({"cidr": ["10.200.0.0/33"]}, "not a CIDR"),
    ({"cidr": ["10.200.0.5/24"]}, "host bits set"),
    ({"cidr": []}, "cidr: is required"),
    ({"cidr": ["10.0.0.0/24", "10.1.0.0/24"]}, "at most one IPv4 and one IPv6"),
    ({"cidr": ["10.0.0.0/31"]}, "too small"),
    ({"protocol": "IPv6"}, "does not match the cidr"),
    ({"gateway": ["10.200.0.0"]}, "not a usable address"),
    ({"gateway": ["10.200.0.1", "10.200.0.2"]}, "one gateway per network"),
    ({"exclude_ips": ["10.201.0.1"]}, "outside the subnet"),
    ({"exclude_ips": ["10.200.0.9..10.200.0.2"]}, "lower to a higher"),
    ({"allow_subnets": ["10.0.0.0/8"]}, "private subnet"),
    ({"mtu": 20000}, "mtu:"),
    ({"mode": "vlan"}, "vlan: is required"),
    ({"mode": "vlan", "vlan": {"id": 5000, "provider": "data"}}, "vlan.id"),
    ({"vlan": {"id": 5, "provider": "data"}}, "only applies with mode vlan"),
    ({"vpc": None}, "vpc: is required"),
])
def test_bad_subnet_input(change, words):
    assert words in error_of(_network.build_subnet, dict(SUBNET, **change))


def test_vlan_mode_builds_the_vlan():
    subnet, vlan, _nets = _network.build_subnet(dict(SUBNET, mode="vlan", vlan={"id": 205, "provider": "data"}))
    assert vlan["spec"] == {"id": 205, "provider": "data"} and subnet["spec"]["vlan"] == "data-vlan205"


def other(name, cidr, vpc="acme"):
    return {"metadata": {"name": name}, "spec": {"cidrBlock": cidr, "vpc": vpc}}


def test_overlap_in_one_vpc_is_an_error_naming_the_other_subnet():
    subnet, _vlan, nets = _network.build_subnet(SUBNET)
    with pytest.raises(KmetalError, match="overlaps 10.200.0.128/25 of subnet acme-b"):
        _network.check_subnet_against(subnet, nets, None, [other("acme-b", "10.200.0.128/25")])
    _network.check_subnet_against(subnet, nets, None, [other("acme-c", "10.201.0.0/24"), other("v6", "fd00::/64")])


@pytest.mark.parametrize("field, live_value, option", [("cidrBlock", "10.100.0.0/24", "cidr"), ("vpc", "other", "vpc"), ("protocol", "IPv6", "protocol")])
def test_immutable_subnet_fields(field, live_value, option):
    subnet, _vlan, nets = _network.build_subnet(SUBNET)
    live = {"metadata": {"name": "acme-a"}, "spec": dict(subnet["spec"], **{field: live_value})}
    with pytest.raises(KmetalError, match="%s: cannot change %s" % (option, field)):
        _network.check_subnet_against(subnet, nets, live, [])


def test_vpc_drop_routes_for_platform_cidrs():
    vpc = _network.build_vpc(dict(VPC, platform_cidrs=["10.96.0.0/16", "fd00:96::/108"], enable_external=True, external_next_hop="172.31.0.1"))
    assert vpc["spec"]["policyRoutes"] == [{"priority": 31000, "match": "ip4.dst == 10.96.0.0/16", "action": "drop"},
                                           {"priority": 31000, "match": "ip6.dst == fd00:96::/108", "action": "drop"}]
    assert vpc["spec"]["staticRoutes"] == [{"policy": "policyDst", "cidr": "0.0.0.0/0", "nextHopIP": "172.31.0.1"}]
    assert vpc["spec"]["namespaces"] == ["tenant-acme"]


@pytest.mark.parametrize("change, words", [
    ({"platform_cidrs": ["10.96.0.0/33"]}, "platform_cidrs[0]"),
    ({"platform_cidrs": ["10.96.0.0/16", "10.96.0.0/16"]}, "given twice"),
    ({"platform_drop_priority": 40000}, "platform_drop_priority"),
    ({"policy_routes": [{"priority": -1, "match": "ip4.dst == 1.0.0.0/8", "action": "drop"}]}, "priority"),
    ({"policy_routes": [{"priority": 10, "match": " ", "action": "drop"}]}, "match: is empty"),
    ({"policy_routes": [{"priority": 10, "match": "x", "action": "reroute"}]}, "next_hop_ip: is required"),
    ({"policy_routes": [{"priority": 10, "match": "x", "action": "drop", "next_hop_ip": "1.1.1.1"}]}, "only meaningful with action reroute"),
    ({"static_routes": [{"cidr": "10.0.0.0/8", "next_hop_ip": "fd00::1", "policy": "policyDst"}]}, "IPv6 address where an IPv4"),
    ({"external_next_hop": "172.31.0.1"}, "needs enable_external"),
    ({"namespaces": ["Bad"]}, "namespaces[0]"),
])
def test_bad_vpc_input(change, words):
    assert words in error_of(_network.build_vpc, dict(VPC, **change))


@pytest.mark.parametrize("change, words", [
    ({"version": "1.34"}, "version:"),
    ({"tenant": None, "namespace": None}, "give namespace or tenant"),
    ({"pod_cidrs": ["10.0.0.0/16"], "service_cidrs": ["10.0.128.0/20"]}, "overlaps the pod network"),
    ({"workers": [{"name": "md", "replicas": 1, "min_size": 1, "max_size": 2}]}, "either replicas or min_size"),
    ({"workers": [{"name": "md", "min_size": 3, "max_size": 2}]}, "greater than max_size"),
    ({"workers": [{"name": "md", "min_size": 3}]}, "needs both"),
    ({"workers": [{"name": "md"}, {"name": "md"}]}, "given twice"),
    ({"control_plane": {"replicas": 12}}, "control_plane.replicas"),
    ({"control_plane": {"service_address": "10.0.0.300"}}, "service_address"),
    ({"variables": {"machineSize": "x"}, "machine_size": "small"}, "set by a module option"),
])
def test_bad_cluster_input(change, words):
    assert words in error_of(_cluster.build_cluster, dict(CLUSTER, **change))


def test_autoscaled_workers_leave_replicas_out():
    cluster = _cluster.build_cluster(dict(CLUSTER, workers=[{"name": "md-0", "class": "default-worker", "min_size": 1, "max_size": 5}]))
    md = cluster["spec"]["topology"]["workers"]["machineDeployments"][0]
    assert "replicas" not in md
    assert md["metadata"]["annotations"] == {_cluster.AUTOSCALER_MIN: "1", _cluster.AUTOSCALER_MAX: "5"}


@pytest.mark.parametrize("change, words", [
    ({"name": "Acme"}, "name:"),
    ({"name": "a" * 57}, "name:"),
    ({"quota": {"cpu": "lots"}}, "quota.cpu"),
    ({"quota": {"tenant_control_planes": -1}}, "quota.tenant_control_planes"),
    ({"limits": {"max_memory": "1GB"}}, "limits.max_memory"),
    ({"labels": {"bad key!": "x"}}, "not a valid label key"),
    ({"labels": {"ok": "spaces are bad"}}, "not a valid label value"),
    ({"admins": {"users": [""], "groups": []}}, "admins.users[0]"),
    ({"namespace": "Tenant_X"}, "namespace:"),
    ({"wait_timeout": 0}, "wait_timeout"),
])
def test_bad_tenant_input(change, words):
    assert words in error_of(_tenant.build_tenant, dict(TENANT, **change))


def test_tenant_objects():
    ns, objects = _tenant.build_tenant(dict(TENANT, quota={"cpu": 64, "tenant_control_planes": 10}, admins={"users": ["alice"], "groups": ["ops"]}))
    assert ns == "tenant-acme"
    assert [o["kind"] for o in objects] == ["Namespace", "ResourceQuota", "LimitRange", "RoleBinding"]
    assert objects[1]["spec"]["hard"] == {"requests.cpu": "64", "count/tenantcontrolplanes.kamaji.clastix.io": "10"}
    assert objects[3]["roleRef"]["name"] == "kmetal-cluster-manager"


CLASS = {"spec": {"variables": [
    {"name": "machineSize", "required": True, "schema": {"openAPIV3Schema": {"type": "string", "enum": ["small", "medium", "large"]}}},
    {"name": "controlPlane", "required": False, "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"dataStoreName": {"type": "string", "minLength": 1},
                                         "network": {"type": "object", "properties": {"serviceAddress": {"type": "string", "format": "ipv4"},
                                                                                      "certSANs": {"type": "array", "items": {"type": "string"}}}}}}}},
    {"name": "replicas", "schema": {"openAPIV3Schema": {"type": "integer", "minimum": 1, "maximum": 5}}},
]}}


@pytest.mark.parametrize("variables, words", [
    ([{"name": "nope", "value": 1}], "declares no such variable"),
    ([{"name": "machineSize", "value": "huge"}], "not one of"),
    ([], "machineSize: is required"),
    ([{"name": "machineSize", "value": "small"}, {"name": "replicas", "value": 9}], "above the maximum"),
    ([{"name": "machineSize", "value": "small"}, {"name": "replicas", "value": "2"}], "wants a integer"),
    ([{"name": "machineSize", "value": "small"}, {"name": "controlPlane", "value": {"network": {"serviceAddress": "x"}}}], "not an IPv4"),
    ([{"name": "machineSize", "value": "small"}, {"name": "controlPlane", "value": {"unknown": 1}}], "not a field the ClusterClass declares"),
])
def test_class_variables(variables, words):
    assert any(words in e for e in check_class_variables(variables, CLASS))


def test_class_variables_ok():
    assert check_class_variables([{"name": "machineSize", "value": "small"},
                                  {"name": "controlPlane", "value": {"dataStoreName": "default", "network": {"certSANs": ["a"]}}}], CLASS) == []
    assert schema_errors({"a": 1}, {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"b": {}}}, "v") == []
