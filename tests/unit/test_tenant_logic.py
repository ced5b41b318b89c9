"""Pure logic of the tenant engine: quantities, typed-option checks, short messages, limit order, namespaces."""

import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.kmetal.platform.plugins.module_utils import _network, _tenant  # noqa: E402
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KmetalError  # noqa: E402
from ansible_collections.kmetal.platform.plugins.module_utils._validate import check_types, parse_quantity, show  # noqa: E402


@pytest.mark.parametrize("text, value", [("1", 1), ("500m", Decimal("0.5")), ("1Gi", 2 ** 30), ("1G", 10 ** 9), ("1e3", 1000), ("128Mi", 128 * 2 ** 20)])
def test_parse_quantity(text, value):
    assert parse_quantity(text) == value


def test_parse_quantity_refuses_what_is_not_one():
    assert parse_quantity("1 core") is None and parse_quantity("16GB") is None


def test_check_types_names_the_option_and_the_fix():
    spec = _tenant.TENANT_ARGS
    assert check_types(spec, {"quota": "cpu"})[0].startswith("quota: 'cpu' is not a dictionary")
    assert check_types(spec, {"quota": {"tenant_control_planes": "ten"}}) == [
        "quota.tenant_control_planes: 'ten' is not an integer: give a whole number, e.g. 10"]
    assert check_types(spec, {"quota": {"tenant_control_planes": "12"}, "name": "x"}) == []
    assert check_types(_network.SUBNET_ARGS, {"vlan": {"id": True}})[0].startswith("vlan.id: True is not an integer")


def test_show_cuts_long_values():
    text = show("a" * 10000)
    assert len(text) < 140 and "10000 characters" in text
    assert show("short") == "'short'"


def tenant(**extra):
    params = {"name": "acme", "labels": {}, "quota": {}, "limits": {}, "state": "present", "wait_timeout": 120}
    params.update(extra)
    return params


@pytest.mark.parametrize("limits, words", [
    ({"default_cpu": "4", "max_cpu": "1"}, "limits.default_cpu: 4 is more than limits.max_cpu 1"),
    ({"default_request_memory": "2Gi", "default_memory": "1Gi"}, "limits.default_request_memory: 2Gi is more than limits.default_memory 1Gi"),
    ({"default_cpu": "500m", "default_request_cpu": "600m"}, "limits.default_request_cpu: 600m is more than limits.default_cpu 500m"),
])
def test_contradicting_limits(limits, words):
    with pytest.raises(KmetalError, match=words):
        _tenant.build_tenant(tenant(limits=limits))


def test_consistent_limits_pass():
    _ns, objects = _tenant.build_tenant(tenant(limits={"default_cpu": "1", "max_cpu": "1000m", "default_request_cpu": "1"}))
    assert objects[2]["spec"]["limits"][0]["max"] == {"cpu": "1000m"}


@pytest.mark.parametrize("ns", ["default", "kube-system", "kube-node-lease", "kmetal-flux"])
def test_system_namespaces_are_refused(ns):
    with pytest.raises(KmetalError, match="namespace: %s is a system namespace" % ns):
        _tenant.build_tenant(tenant(namespace=ns, adopt_namespace=True))


def test_ownership_is_the_creation_mark_not_the_label():
    labelled = {"metadata": {"name": "tenant-acme", "labels": {"kmetal.io/tenant": "acme"}}}
    with pytest.raises(KmetalError, match="was not created by kmetal.platform"):
        _tenant.check_namespace("acme", "tenant-acme", labelled, adopt=False)
    _tenant.check_namespace("acme", "tenant-acme", labelled, adopt=True)
    created = {"metadata": {"name": "tenant-acme", "annotations": {_tenant.CREATED_BY: _tenant.CREATED_BY_VALUE}}}
    _tenant.check_namespace("acme", "tenant-acme", created, adopt=False)
    desired = {"metadata": {"name": "tenant-acme"}}
    _tenant.mark_created(desired, labelled)
    assert "annotations" not in desired["metadata"]
    _tenant.mark_created(desired, None)
    assert desired["metadata"]["annotations"] == {_tenant.CREATED_BY: _tenant.CREATED_BY_VALUE}


def test_server_fields_map_to_options():
    assert _tenant.option_of("LimitRange", "spec.limits[0].default[cpu]") == "limits.default_cpu"
    assert _tenant.option_of("ResourceQuota", "spec.hard[pods]") == "quota.pods"
    err = KmetalError("the API server answered 422", status=422, causes=[{"field": "spec.limits[0].max[memory]", "message": "Invalid value"}])
    assert str(_tenant.in_terms_of_options(err, "LimitRange")) == "limits.max_memory: the API server refused it: Invalid value"


def test_vlan_id_out_of_range_is_one_problem():
    with pytest.raises(KmetalError) as err:
        _network.build_subnet({"name": "s", "vpc": "v", "cidr": ["10.0.0.0/24"], "mode": "vlan", "vlan": {"id": 5000, "provider": "data"}})
    assert err.value.details["problems"] == ["vlan.id: 5000 is out of range: give an integer from 0 to 4094"]
