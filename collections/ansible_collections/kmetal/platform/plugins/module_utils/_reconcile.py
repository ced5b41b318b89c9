# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Desired objects against live ones: normalise, decide whether an apply can change anything, apply, diff.

Pure functions plus two that write through a Client. The live object can come from a GET (the modules) or from
one LIST of the kind (a bulk path): the same needs_apply/apply_object/diff code serves both.
"""

from __future__ import annotations

import copy

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import (
    FIELD_MANAGER,
    VOLATILE_METADATA,
    KmetalError,
    obj_ident,
)

CONFLICT_RETRIES = 4


def normalize(obj):
    """OBJ without what the server changes on every write or owns alone (resourceVersion, managedFields, status...)."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if annotations is not None:
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if not annotations:
            meta.pop("annotations", None)
    out.pop("status", None)
    return out


def _owned(fields, prefix=()):
    """The paths the field manager owns, from its fieldsV1: {path: 'leaf' | ('list', items)}."""
    paths = {}
    for key, sub in (fields or {}).items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        children = [c for c in (sub or {}) if c != "."]
        if any(c.startswith(("k:", "v:", "i:")) for c in children):
            paths[path] = ("list", len([c for c in children if c.startswith(("k:", "v:", "i:"))]))
        elif children:
            paths.update(_owned(sub, path))
        else:
            paths[path] = "leaf"
    return paths


def _desired_paths(value, prefix=()):
    paths = {}
    for key, sub in value.items():
        path = prefix + (key,)
        if isinstance(sub, dict) and sub:
            paths.update(_desired_paths(sub, path))
        elif isinstance(sub, list):
            paths[path] = ("list", len(sub))
        else:
            paths[path] = "leaf"
    return paths


def subset(want, have):
    """True when every field of WANT is in HAVE with the same value (lists: every item matched by a distinct one)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(have) < len(want):
            return False
        free = list(have)
        for item in want:
            for i, cand in enumerate(free):
                if subset(item, cand):
                    del free[i]
                    break
            else:
                return False
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if isinstance(want, (int, float)) and isinstance(have, (int, float)):
        return want == have
    return want == have


def needs_apply(desired, live):
    """False only when applying DESIRED to LIVE certainly changes nothing: our field manager owns exactly the fields
    of DESIRED (so the apply removes nothing) and LIVE already holds their values. Any doubt answers True, and the
    server decides."""
    if live is None:
        return True
    ours = None
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            ours = entry.get("fieldsV1") or {}
    if ours is None:
        return True
    body = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("name", "namespace", "resourceVersion")}
    body["metadata"] = meta
    if not meta:
        del body["metadata"]
    want = _desired_paths(body)
    owned = _owned(ours)
    for path, shape in owned.items():
        # an atomic struct (e.g. a RoleBinding's roleRef) is owned whole: compare it whole
        inner = [w for w in want if len(w) > len(path) and w[:len(path)] == path]
        if shape == "leaf" and path not in want and inner:
            for w in inner:
                del want[w]
            want[path] = ("atomic",)
    if set(want) != set(owned):
        return True
    for path, shape in want.items():
        if shape == owned[path]:
            continue
        if owned[path] != "leaf" or shape == "leaf":
            return True  # a granular list with another number of items, or a shape we do not know: let the server decide
        if _at(live, path) != _at(desired, path):
            return True  # an atomic list or struct: it must equal ours exactly
    return not subset(body, live)


def _at(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def changed(before, after):
    return normalize(before) != normalize(after)


def diff_entry(before, after, header):
    return {
        "before": normalize(before) or {},
        "after": normalize(after) or {},
        "before_header": header,
        "after_header": header,
    }


def apply_object(client, desired, live, check_mode, reread=None, check=None):
    """Bring one object to DESIRED. Returns (changed, before, after).

    When LIVE exists its resourceVersion goes into the apply as a precondition: validation done on LIVE (immutable
    fields, usage) still holds at write time, and a concurrent writer makes the server answer 409. Then the object
    is read again (REREAD), checked again (CHECK) and applied again, up to CONFLICT_RETRIES times.
    """
    for _attempt in range(CONFLICT_RETRIES):
        if check is not None:
            check(live)
        if not needs_apply(desired, live):
            return False, live, live
        body = copy.deepcopy(desired)
        if live is not None:
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        status, after = client.apply(body, dry_run=check_mode)
        if status != 409:
            return changed(live, after), live, after
        meta = desired["metadata"]
        live = reread() if reread else client.get(desired["kind"], meta["name"], meta.get("namespace"))
    raise KmetalError("gave up after %d conflicts: another writer keeps changing the object; try again" % CONFLICT_RETRIES, obj=obj_ident(desired))


def delete_object(client, kind, live, check_mode):
    """Delete LIVE (None: nothing to do). Returns changed. The resourceVersion read is the precondition."""
    if live is None:
        return False
    meta = live["metadata"]
    if meta.get("deletionTimestamp"):
        return False
    status, _data = client.delete(kind, meta["name"], meta.get("namespace"), dry_run=check_mode, resource_version=meta.get("resourceVersion"))
    if status == 404:
        return False
    if status == 409:
        raise KmetalError("changed by another writer since it was read; run again to re-check it before deleting", obj=obj_ident(live))
    return True
