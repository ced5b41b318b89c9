# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bulk path for fleets: one LIST per kind, then a write only for the objects that differ.

It reuses what the modules use: the desired objects come from the same builders (_tenant.desired_objects,
_network.vpc_desired/subnet_desired, _cluster.desired_cluster), the no-op decision is _reconcile.needs_apply, the
write is _reconcile.apply_object (resourceVersion precondition, re-read on 409), the checks are the same functions.
A fleet of N tenants that needs no change costs one request per kind, whatever N.
"""

from __future__ import annotations

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KINDS, MANAGED_BY, KmetalError, ident, obj_ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry

# Objects are applied in this order: a namespace before what lives in it, a VPC before its subnets.
ORDER = ("Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "Vpc", "Vlan", "Subnet", "Cluster")


def _key(obj):
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace"), meta["name"]


def snapshot(client, kinds, label_selector=None, selectors=None):
    """{(kind, namespace, name): object} from one LIST per kind, across namespaces. SELECTORS: {kind: selector or
    None (every object of the kind)} overrides LABEL_SELECTOR for those kinds."""
    live = {}
    for kind in kinds:
        selector = (selectors or {}).get(kind, label_selector)
        for obj in client.list(kind, label_selector=selector):
            live[_key(obj)] = obj
    return live


def reconcile_many(client, items, check_mode=False, diff=False, label_selector=None, absent=(), selectors=None, owners=None):
    """Bring every desired object of ITEMS to its state. ITEMS: [(desired object, check or None)], CHECK(live,
    snapshot) raising KmetalError to refuse. ABSENT: [(kind, namespace, name)] deleted when the snapshot has them,
    after the applies. Every check runs before the first write; when several refuse, one KmetalError names them all.
    SELECTORS: see snapshot. OWNERS: {(kind, namespace, name): unit} groups the objects into units (tenants) written
    one after the other, each in ORDER; a unit whose write is refused is undone (what the run created of it is
    deleted). Returns a result with the changed objects, the objects written, a status per unit and the number of
    requests sent; a failure raises a KmetalError that carries the same (written, uncertain, results)."""
    owners = owners or {}
    kinds = sorted({item[0]["kind"] for item in items} | {key[0] for key in absent}, key=ORDER.index)
    selector = label_selector or ",".join("%s=%s" % kv for kv in MANAGED_BY.items())
    live = snapshot(client, kinds, selector, selectors)
    errors = []
    for obj, check in items:
        if check is not None:
            try:
                check(live.get(_key(obj)), live)
            except KmetalError as err:
                errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise KmetalError("%d objects refused: %s" % (len(errors), "; ".join(str(e) for e in errors)),
                          problems=[str(e) for e in errors])
    units = {}
    for obj, _check in items:
        units.setdefault(owners.get(_key(obj), ""), {"objects": [], "absent": []})["objects"].append(obj)
    for key in absent:
        units.setdefault(owners.get(key, ""), {"objects": [], "absent": []})["absent"].append(key)
    report = {"changed": [], "written": [], "uncertain": [], "diffs": [], "tenant_results": []}
    for unit, work in units.items():
        try:
            status = _write_unit(client, work, live, check_mode, diff, report)
        except KmetalError as err:
            report["tenant_results"].append({"name": unit, "status": "failed", "reason": str(err)})
            for later in list(units)[len(report["tenant_results"]):]:
                report["tenant_results"].append({"name": later, "status": "not reached", "reason": "an earlier tenant failed"})
            raise KmetalError(str(err), written=report["written"], uncertain=report["uncertain"], tenant_results=report["tenant_results"],
                              changed_objects=report["changed"], problems=err.details.get("problems"))
        report["tenant_results"].append({"name": unit, "status": status})
    result = {"changed": bool(report["changed"]), "changed_objects": report["changed"], "written": report["written"],
              "objects": len(items), "tenant_results": report["tenant_results"], "api_requests": client.requests}
    if diff:
        result["diff"] = report["diffs"]
    return result


def _write_unit(client, work, live, check_mode, diff, report):
    """Write one unit's objects in ORDER, then its deletions. Returns its status: created, changed or unchanged."""
    from ansible_collections.kmetal.platform.plugins.module_utils._tenant import in_terms_of_options  # one mapping of server fields

    created, changed = [], []
    created_namespaces = set()
    for obj in sorted(work["objects"], key=lambda o: ORDER.index(o["kind"])):
        namespace = obj["metadata"].get("namespace")
        current = live.get(_key(obj))
        if check_mode and KINDS[obj["kind"]].namespaced and namespace in created_namespaces:
            was_changed, before, after = True, None, obj  # nothing can be dry-run in a namespace not created yet
        else:
            try:
                was_changed, before, after = apply_object(client, obj, current, check_mode)
            except KmetalError as err:
                if err.status is None and not check_mode:
                    report["uncertain"].append(obj_ident(obj))  # sent, no answer: it may have been written
                refusal = in_terms_of_options(err, obj["kind"])
                if err.status is not None and created:
                    undone = [ident(*k) for k in _undo(client, created)]
                    for name in undone:
                        report["written"].remove(name)
                        report["changed"].remove(name)
                    raise KmetalError("%s; nothing of the tenant was left half-made: this run's writes of it were undone (%s)"
                                      % (refusal, ", ".join(undone)), status=refusal.status, problems=refusal.details.get("problems"))
                raise refusal
        if was_changed:
            if current is None:
                created.append((obj["kind"], obj["metadata"]["name"], namespace))
                if obj["kind"] == "Namespace":
                    created_namespaces.add(obj["metadata"]["name"])
            changed.append(obj_ident(obj))
            report["changed"].append(obj_ident(obj))
            if not check_mode:
                report["written"].append(obj_ident(obj))
            if diff:
                report["diffs"].append(diff_entry(before, after, obj_ident(obj)))
    for kind, namespace, name in sorted(work["absent"], key=lambda key: -ORDER.index(key[0])):
        current = live.get((kind, namespace, name))
        if delete_object(client, kind, current, check_mode):
            changed.append(ident(kind, name, namespace))
            report["changed"].append(ident(kind, name, namespace))
            if not check_mode:
                report["written"].append(ident(kind, name, namespace))
            if diff:
                report["diffs"].append(diff_entry(current, None, ident(kind, name, namespace)))
    if any(kind == "Namespace" for kind, _n, _ns in created):
        return "created"
    return "changed" if changed else "unchanged"


def _undo(client, created):
    """Delete what the run created of one unit (a namespace created takes its contents with it). Returns the keys
    (kind, name, namespace) undone, in creation order."""
    namespaces = {name for kind, name, _ns in created if kind == "Namespace"}
    for kind, name, namespace in reversed(created):
        if namespace not in namespaces:
            client.delete(kind, name, namespace)
    return list(created)
