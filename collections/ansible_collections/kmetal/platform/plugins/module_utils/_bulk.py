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


def reconcile_many(client, items, check_mode=False, diff=False, label_selector=None, absent=(), selectors=None):
    """Bring every desired object of ITEMS to its state. ITEMS: [(desired object, check or None)], CHECK(live,
    snapshot) raising KmetalError to refuse. ABSENT: [(kind, namespace, name)] deleted when the snapshot has them,
    after the applies. Every check runs before the first write; when several refuse, one KmetalError names them all.
    SELECTORS: see snapshot. Returns a result with the changed objects and the number of requests sent."""
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
    changed, diffs = [], []
    created_namespaces = set()
    for obj, _check in sorted(items, key=lambda item: ORDER.index(item[0]["kind"])):
        namespace = obj["metadata"].get("namespace")
        current = live.get(_key(obj))
        if check_mode and KINDS[obj["kind"]].namespaced and namespace in created_namespaces:
            was_changed, before, after = True, None, obj  # nothing can be dry-run in a namespace not created yet
        else:
            was_changed, before, after = apply_object(client, obj, current, check_mode)
        if was_changed:
            if obj["kind"] == "Namespace" and current is None:
                created_namespaces.add(obj["metadata"]["name"])
            changed.append(obj_ident(obj))
            if diff:
                diffs.append(diff_entry(before, after, obj_ident(obj)))
    for kind, namespace, name in sorted(absent, key=lambda key: -ORDER.index(key[0])):
        current = live.get((kind, namespace, name))
        if delete_object(client, kind, current, check_mode):
            changed.append(ident(kind, name, namespace))
            if diff:
                diffs.append(diff_entry(current, None, ident(kind, name, namespace)))
    result = {"changed": bool(changed), "changed_objects": changed, "objects": len(items), "api_requests": client.requests}
    if diff:
        result["diff"] = diffs
    return result
