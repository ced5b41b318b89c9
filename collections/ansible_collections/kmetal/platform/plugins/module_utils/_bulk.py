# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bulk path for fleets: one LIST per kind, then a write only for the objects that differ.

It reuses what the modules use: the desired objects come from the same builders (_tenant.build_tenant,
_network.build_vpc/build_subnet, _cluster.build_cluster), the no-op decision is _reconcile.needs_apply, the
write is _reconcile.apply_object (resourceVersion precondition, re-read on 409), the checks are the same functions.
A fleet of N tenants that needs no change costs one request per kind, whatever N.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KINDS, MANAGED_BY, KmetalError, ident, obj_ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry
from ansible_collections.kmetal.platform.plugins.module_utils._snapshot import ListSnapshot

# Objects are applied in this order: a namespace before what lives in it, a VPC before its subnets.
ORDER = ("Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "Vpc", "Vlan", "Subnet", "DataStore", "Cluster")


def _key(obj):
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace"), meta["name"]


def reconcile_many(client, items, check_mode=False, diff=False, label_selector=None, absent=(), selectors=None, owners=None,
                   removals=None, workers=1, fail_fast=True, before_writes=None):
    """Bring every desired object of ITEMS to its state. ITEMS: [(desired object, check or None)], CHECK(live,
    snapshot) raising KmetalError to refuse. ABSENT: [(kind, namespace, name)] deleted when the snapshot has them,
    after the applies. SELECTORS: {kind: label selector or None (every object)} over LABEL_SELECTOR (default: the
    collection's managed-by label). OWNERS: {(kind, namespace, name): unit} groups the objects into units (tenants);
    REMOVALS: {unit: remove(client, snapshot, check_mode, diff, report) -> status} adds units that delete.

    Every check runs before the first write. A unit whose check refuses fails alone; the other units are written,
    up to WORKERS at a time, each in ORDER; a unit whose write is refused is undone (what the run created of it is
    deleted). FAIL_FAST: the first failure stops every unit not yet started (and a check failure stops them all
    before any write). BEFORE_WRITES(snapshot) may refuse the whole run (e.g. a prune over its limit).

    Returns a result with the changed objects, the objects written and a status per unit; when a unit failed,
    raises a KmetalError that carries the same (written, uncertain, tenant_results, changed_objects)."""
    owners = owners or {}
    removals = removals or {}
    kinds = {item[0]["kind"] for item in items} | {key[0] for key in absent}
    if removals or before_writes:
        kinds |= {"Namespace", "Vpc", "Subnet", "Cluster", "IP"}  # what a removal reads: one LIST each, not one per tenant
    selector = label_selector or ",".join("%s=%s" % kv for kv in MANAGED_BY.items())
    listed = sorted(kinds, key=lambda k: (k not in ORDER, ORDER.index(k) if k in ORDER else 0))
    snap = ListSnapshot(client, {kind: (selectors or {}).get(kind, selector) for kind in listed})
    live = snap.objects
    if before_writes:
        removals = dict(removals, **before_writes(snap))
    units = {}
    for obj, check in items:
        unit = units.setdefault(owners.get(_key(obj), ""), {"objects": [], "absent": [], "errors": []})
        unit["objects"].append(obj)
        if check is not None:
            try:
                check(live.get(_key(obj)), snap)
            except KmetalError as err:
                unit["errors"].append(err)
    for key in absent:
        units.setdefault(owners.get(key, ""), {"objects": [], "absent": [], "errors": []})["absent"].append(key)
    for name, remove in removals.items():
        units.setdefault(name, {"objects": [], "absent": [], "errors": []})["remove"] = remove
    refused = [(name, unit["errors"]) for name, unit in units.items() if unit["errors"]]
    if refused and (fail_fast or len(refused) == len(units)):
        errors = [e for _n, errs in refused for e in errs]
        if len(errors) == 1:
            raise errors[0]
        raise KmetalError("%d objects refused: %s" % (len(errors), "; ".join(str(e) for e in errors)), problems=[str(e) for e in errors])
    report = new_report()
    for name, errs in refused:
        report["tenant_results"][name] = {"name": name, "status": "failed", "reason": "; ".join(str(e) for e in errs)}

    def run_unit(name):
        unit = units[name]
        if report["stop"]:
            return {"name": name, "status": "not reached", "reason": "an earlier tenant failed and fail_fast is set"}
        try:
            if "remove" in unit:
                status = unit["remove"](client, snap, check_mode, diff, report)
            else:
                status, _outcomes = write_unit(client, unit, snap, check_mode, diff, report)
        except KmetalError as err:
            if fail_fast:
                report["stop"] = True
            return {"name": name, "status": "failed", "reason": str(err), "problems": err.details.get("problems")}
        return {"name": name, "status": status}

    todo = [name for name in units if name not in report["tenant_results"]]
    if workers > 1 and len(todo) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(run_unit, todo):
                report["tenant_results"][outcome["name"]] = outcome
    else:
        for name in todo:
            report["tenant_results"][name] = run_unit(name)
    results = [report["tenant_results"][name] for name in units]
    result = {"changed": bool(report["changed"]), "changed_objects": report["changed"], "written": report["written"],
              "objects": len(items), "tenant_results": results, "api_requests": client.requests}
    if diff:
        result["diff"] = report["diffs"]
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        problems = [p for r in failed for p in (r.get("problems") or [r["reason"]])]
        msg = failed[0]["reason"] if len(failed) == 1 else "%d tenants failed: %s" % (
            len(failed), "; ".join("%s: %s" % (r["name"], r["reason"]) for r in failed))
        raise KmetalError(msg, written=report["written"], uncertain=report["uncertain"], tenant_results=results,
                          changed_objects=report["changed"], problems=problems)
    return result


def record(report, name, diff, before, after, check_mode):
    """One object changed (or, in check mode, would be) by a unit: into the shared report, under its lock."""
    with report["lock"]:
        report["changed"].append(name)
        if not check_mode:
            report["written"].append(name)
        if diff:
            report["diffs"].append(diff_entry(before, after, name))


def new_report():
    """What the units of one run share, under its lock: the objects changed and written, the writes sent without an
    answer, the diffs, a status per unit, and the fail_fast stop."""
    return {"changed": [], "written": [], "uncertain": [], "diffs": [], "tenant_results": {}, "lock": threading.Lock(), "stop": False}


def write_unit(client, work, snapshot, check_mode, diff, report):
    """Write one unit's objects (one tenant, of a fleet or of a tenant module call) in ORDER, then delete its ABSENT
    keys. SNAPSHOT says what is live: one LIST per kind for a fleet, GETs for a module call. What lives in a namespace
    the unit has just created is not read (it holds nothing yet) and, in check mode, is predicted as given (nothing can
    be dry-run in a namespace that does not exist). A write the API server refuses is restated in the module's options
    and what the run created of the unit is deleted again: no tenant is left half-made.

    Returns (status, outcomes): status created, changed or unchanged; per object {kind, name, namespace, changed,
    after} in the order written."""
    created, outcomes = [], []
    created_namespaces = set()
    for obj in sorted(work["objects"], key=lambda o: ORDER.index(o["kind"])):
        kind, meta = obj["kind"], obj["metadata"]
        namespace = meta.get("namespace")
        fresh = KINDS[kind].namespaced and namespace in created_namespaces
        current = None if fresh else snapshot.get(kind, meta["name"], namespace)
        if fresh and check_mode:
            was_changed, before, after = True, None, obj
        else:
            try:
                was_changed, before, after = apply_object(client, obj, current, check_mode)
            except KmetalError as err:
                raise _refused(client, err, obj, created, check_mode, report)
        if was_changed:
            if current is None:
                created.append((kind, meta["name"], namespace))
                if kind == "Namespace":
                    created_namespaces.add(meta["name"])
            record(report, obj_ident(obj), diff, before, after, check_mode)
        outcomes.append({"kind": kind, "name": meta["name"], "namespace": namespace, "changed": was_changed, "after": after})
    for kind, namespace, name in sorted(work["absent"], key=lambda key: -ORDER.index(key[0])):
        current = None if namespace in created_namespaces else snapshot.get(kind, name, namespace)
        was_changed = delete_object(client, kind, current, check_mode)
        if was_changed:
            record(report, ident(kind, name, namespace), diff, current, None, check_mode)
        outcomes.append({"kind": kind, "name": name, "namespace": namespace, "changed": was_changed, "after": None})
    if any(kind == "Namespace" for kind, _n, _ns in created):
        return "created", outcomes
    return ("changed" if any(o["changed"] for o in outcomes) else "unchanged"), outcomes


def _refused(client, err, obj, created, check_mode, report):
    """The error to raise for ERR, a write of OBJ that failed: in the module's options; after undoing what the run
    created of the unit when the API server refused it (a write sent without an answer is reported as uncertain)."""
    from ansible_collections.kmetal.platform.plugins.module_utils._tenant import in_terms_of_options  # one mapping of server fields

    if err.status is None and not check_mode:
        with report["lock"]:
            report["uncertain"].append(obj_ident(obj))  # sent, no answer: it may have been written
    refusal = in_terms_of_options(err, obj["kind"])
    if err.status is None or not created or check_mode:
        return refusal
    undone = [ident(k[0], k[1], k[2]) for k in _undo(client, created)]
    with report["lock"]:
        for name in undone:
            report["written"].remove(name)
            report["changed"].remove(name)
    return KmetalError("%s; nothing of the tenant was left half-made: this run's writes of it were undone (%s)" % (refusal, ", ".join(undone)),
                       status=refusal.status, problems=refusal.details.get("problems"), undone=undone)


def _undo(client, created):
    """Delete what the run created of one unit (a namespace created takes its contents with it). Returns the keys
    (kind, name, namespace) undone, in creation order."""
    namespaces = {name for kind, name, _ns in created if kind == "Namespace"}
    for kind, name, namespace in reversed(created):
        if namespace not in namespaces:
            client.delete(kind, name, namespace)
    return list(created)
