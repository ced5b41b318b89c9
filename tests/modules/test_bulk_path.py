"""The bulk path of the Kubernetes layer, in process against the lab API: a fleet reconciled with one LIST per kind,
built and checked by the same code the modules use, and a no-op pass that sends only those LISTs."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.kmetal.platform.plugins.module_utils import _bulk, _network, _tenant  # noqa: E402
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client, KmetalError  # noqa: E402


def fleet(tag, count):
    items = []
    for i in range(count):
        name = "k%s-%02d" % (tag, i)
        _ns, objects = _tenant.build_tenant({"name": name, "labels": {}, "quota": {"cpu": "4"}, "limits": {}, "admins": {"users": ["a"], "groups": []},
                                                "state": "present", "wait_timeout": 120})
        items += [(obj, None) for obj in objects]
        items.append((_network.build_vpc({"name": name, "tenant": name, "state": "present", "static_routes": [], "policy_routes": [],
                                            "platform_cidrs": ["198.18.1.0/24"], "platform_drop_priority": 31000, "enable_external": False}), None))
        subnet, _vlan, nets = _network.build_subnet({"name": name + "-a", "vpc": name, "tenant": name, "cidr": ["10.200.0.0/24"], "state": "present", "mode": "overlay"})

        def check(live, snapshot, subnet=subnet, nets=nets):
            others = [o for o in snapshot.of_kind("Subnet") if o["metadata"]["name"] != subnet["metadata"]["name"]
                      and o["spec"].get("vpc") == subnet["spec"]["vpc"]]
            _network.check_subnet_against(subnet, nets, live, others)

        items.append((subnet, check))
    return items


def test_fleet_with_one_list_per_kind(k8s, audit, module_identity, uniq):
    user, kubeconfig = module_identity
    items = fleet(uniq[:4], 8)
    selector = "kmetal.io/tenant in (%s)" % ",".join("k%s-%02d" % (uniq[:4], i) for i in range(8))

    def run(check_mode=False):
        api = Client({"kubeconfig": str(kubeconfig)})
        mark = audit.mark()
        result = _bulk.reconcile_many(api, items, check_mode=check_mode, label_selector=selector)
        events = audit.events(mark, user=user)
        return result, [e for e in events if e["verb"] in ("patch", "create", "update", "delete") and "dryRun" not in e["requestURI"]], events

    predicted, writes, _ = run(check_mode=True)
    assert predicted["changed"] and len(predicted["changed_objects"]) == len(items) and writes == []
    created, writes, _ = run()
    assert len(created["changed_objects"]) == len(items) == len(writes)  # 6 objects per tenant, one apply each
    again, writes, events = run()
    assert again["changed"] is False and writes == []
    assert len(events) == 6 == again["api_requests"]  # one LIST per kind for the whole fleet

    # the same checks as the module: an overlapping subnet in one of the VPCs is refused before any write
    bad, _vlan, nets = _network.build_subnet({"name": "k%s-x" % uniq[:4], "vpc": "k%s-00" % uniq[:4], "cidr": ["10.200.0.128/25"],
                                                "state": "present", "mode": "overlay"})
    overlap = items[:1] + [(bad, lambda live, snap: _network.check_subnet_against(
        bad, nets, live, [o for o in snap.of_kind("Subnet") if o["spec"].get("vpc") == bad["spec"]["vpc"]]))]
    with pytest.raises(KmetalError, match="overlaps 10.200.0.0/24 of subnet k%s-00-a" % uniq[:4]):
        _bulk.reconcile_many(Client({"kubeconfig": str(kubeconfig)}), overlap, label_selector=selector)

    for obj, _check in reversed(items):
        if obj["kind"] in ("Namespace", "Vpc", "Subnet"):
            Client({"kubeconfig": str(kubeconfig)}).delete(obj["kind"], obj["metadata"]["name"])
