# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant: its namespace, labels, ResourceQuota, LimitRange and RoleBinding to kmetal-cluster-manager."""

from __future__ import annotations

import re

from ansible_collections.kmetal.platform.plugins.module_utils._bulk import new_report, write_unit
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry, normalize
from ansible_collections.kmetal.platform.plugins.module_utils._snapshot import Snapshot
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems, parse_quantity

QUOTA_NAME = "kmetal-tenant-quota"
LIMITS_NAME = "kmetal-tenant-limits"
ADMINS_NAME = "kmetal-tenant-admins"
TCP_COUNT = "count/tenantcontrolplanes.kamaji.clastix.io"
QUOTA_KEYS = {"cpu": "requests.cpu", "memory": "requests.memory", "storage": "requests.storage", "pods": "pods"}
# Set on a namespace only when this collection creates it: the one mark of ownership the module does not add to a
# namespace it is merely given (the tenant label is added to an adopted one too, so it cannot prove creation).
CREATED_BY = "kmetal.io/created-by"
CREATED_BY_VALUE = "kmetal-platform"
SYSTEM_PREFIXES = ("kube-", "kmetal-")
SYSTEM_NAMESPACES = ("default",)
# limit A must not exceed limit B, for cpu and memory: what the API server would refuse with its own field names
LIMIT_ORDER = (("default_request", "default"), ("default", "max"), ("default_request", "max"))
LIMIT_KEYS = {
    "default_cpu": ("default", "cpu"), "default_memory": ("default", "memory"),
    "default_request_cpu": ("defaultRequest", "cpu"), "default_request_memory": ("defaultRequest", "memory"),
    "max_cpu": ("max", "cpu"), "max_memory": ("max", "memory"),
}

TENANT_ARGS = dict(
    name={"type": "str", "required": True},
    namespace={"type": "str"},
    adopt_namespace={"type": "bool", "default": False},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    labels={"type": "dict", "default": {}},
    quota={"type": "dict", "default": {}, "options": {
        "cpu": {"type": "raw"}, "memory": {"type": "raw"}, "storage": {"type": "raw"}, "pods": {"type": "raw"},
        "tenant_control_planes": {"type": "int", "default": 10},
    }},
    limits={"type": "dict", "default": {}, "options": {
        "default_cpu": {"type": "raw", "default": "1"}, "default_memory": {"type": "raw", "default": "1Gi"},
        "default_request_cpu": {"type": "raw", "default": "100m"}, "default_request_memory": {"type": "raw", "default": "128Mi"},
        "max_cpu": {"type": "raw"}, "max_memory": {"type": "raw"},
    }},
    admins={"type": "dict", "options": {
        "users": {"type": "list", "elements": "str", "default": []},
        "groups": {"type": "list", "elements": "str", "default": []},
    }},
    cluster_role={"type": "str", "default": "kmetal-cluster-manager"},
    force={"type": "bool", "default": False},
    wait={"type": "bool", "default": False},
    wait_timeout={"type": "int", "default": 120},
)


def tenant_namespace(name, namespace=None):
    return namespace or "tenant-%s" % name


def is_system_namespace(ns):
    return ns in SYSTEM_NAMESPACES or str(ns).startswith(SYSTEM_PREFIXES)


def created_here(live):
    """True when LIVE (a namespace) was created by this collection (not adopted, not hand-made)."""
    return ((live or {}).get("metadata", {}).get("annotations") or {}).get(CREATED_BY) == CREATED_BY_VALUE


def check_namespace(name, ns, live, adopt):
    """Refuse a namespace that is not this tenant's to take: another tenant's, one being deleted, or one this
    collection did not create, unless ADOPT. Raises KmetalError naming the namespace option."""
    if live is None:
        return
    owner = (live["metadata"].get("labels") or {}).get(TENANT_LABEL)
    if owner not in (None, name):
        raise KmetalError("the namespace belongs to tenant %r; choose another namespace" % owner, obj=ident("Namespace", ns), field="namespace")
    if live["metadata"].get("deletionTimestamp"):
        raise KmetalError("the namespace is being deleted; wait until it is gone, then run again", obj=ident("Namespace", ns))
    if not created_here(live) and not adopt:
        raise KmetalError("%s was not created by kmetal.platform for tenant %s: set adopt_namespace: true to take it over (state: absent "
                          "then removes only what the tenant added and leaves the namespace), or choose another namespace" % (ns, name),
                          obj="tenant %s" % name, field="namespace")


def mark_created(namespace_obj, live):
    """The desired namespace carries CREATED_BY when the run creates it or this collection created it before."""
    if live is None or created_here(live):
        namespace_obj["metadata"].setdefault("annotations", {})[CREATED_BY] = CREATED_BY_VALUE


def _check_limits(problems, limit_spec):
    for low, high in LIMIT_ORDER:
        for resource in ("cpu", "memory"):
            a = (limit_spec.get(LIMIT_SECTIONS[low]) or {}).get(resource)
            b = (limit_spec.get(LIMIT_SECTIONS[high]) or {}).get(resource)
            if a is None or b is None or parse_quantity(a) is None or parse_quantity(b) is None:
                continue
            if parse_quantity(a) > parse_quantity(b):
                problems.add("limits.%s_%s" % (low, resource), "%s is more than limits.%s_%s %s: a container's %s cannot exceed its %s"
                             % (a, high, resource, b, low.replace("_", " "), high))


LIMIT_SECTIONS = {"default": "default", "default_request": "defaultRequest", "max": "max"}
QUOTA_OPTIONS = {target: "quota.%s" % key for key, target in QUOTA_KEYS.items()}
QUOTA_OPTIONS[TCP_COUNT] = "quota.tenant_control_planes"


def option_of(kind, server_field):
    """The module option behind a field the API server names in a refusal (None when unknown)."""
    if kind == "ResourceQuota":
        match = re.match(r"^spec\.hard\[(.+)\]$", server_field or "")
        return QUOTA_OPTIONS.get(match.group(1)) if match else None
    if kind == "LimitRange":
        match = re.match(r"^spec\.limits\[0\]\.(\w+)\[(\w+)\]$", server_field or "")
        if match:
            for key, (section, resource) in LIMIT_KEYS.items():
                if (section, resource) == match.groups():
                    return "limits.%s" % key
    if kind == "RoleBinding" and (server_field or "").startswith("subjects"):
        return "admins"
    return None


def build_tenant(p):
    """Validate the tenant module's parameters P and build its objects: [namespace, quota, limits, rolebinding?].
    Raises KmetalError naming every bad field; touches no API."""
    problems = Problems("tenant %s" % p.get("name"))
    name = problems.label_name("name", p.get("name"), max_len=56)
    ns = tenant_namespace(p.get("name"), p.get("namespace"))
    if p.get("namespace") is not None or name:
        if problems.label_name("namespace", ns) and is_system_namespace(ns):
            problems.add("namespace", "%s is a system namespace: a tenant never takes one over (not even with adopt_namespace); "
                                      "choose another" % ns)
    problems.labels("labels", p.get("labels"))
    problems.int_range("wait_timeout", p.get("wait_timeout"), 1, 3600)
    if p.get("state", "present") == "absent":
        problems.raise_if_any()
        return ns, []
    quota = p.get("quota") or {}
    hard = {}
    for key, target in QUOTA_KEYS.items():
        value = problems.quantity("quota.%s" % key, quota.get(key))
        if value is not None:
            hard[target] = value
    tcp = quota.get("tenant_control_planes", 10)
    if problems.int_range("quota.tenant_control_planes", tcp, 0, 10000) is not None:
        hard[TCP_COUNT] = str(tcp)
    limits = p.get("limits") or {}
    limit_spec = {}
    for key, (section, resource) in LIMIT_KEYS.items():
        # the argspec's defaults also when the builder is called without the module (the bulk path)
        value = problems.quantity("limits.%s" % key, limits.get(key, TENANT_ARGS["limits"]["options"][key].get("default")))
        if value is not None:
            limit_spec.setdefault(section, {})[resource] = value
    _check_limits(problems, limit_spec)
    admins = p.get("admins")
    subjects = []
    if admins is not None:
        for kind, key in (("User", "users"), ("Group", "groups")):
            for i, who in enumerate(admins.get(key) or []):
                if not isinstance(who, str) or not who.strip() or len(who) > 253:
                    problems.add("admins.%s[%d]" % (key, i), "%r is not a user or group name: give a non-empty string" % (who,))
                    continue
                subjects.append({"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": who})
    problems.subdomain("cluster_role", p.get("cluster_role", "kmetal-cluster-manager"))
    problems.raise_if_any()

    labels = dict(p.get("labels") or {})
    labels.update(MANAGED_BY)
    labels[TENANT_LABEL] = name

    def meta(obj_name, namespace=None):
        m = {"name": obj_name, "labels": dict(labels)}
        if namespace:
            m["namespace"] = namespace
        return m

    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns)}]
    objects.append({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(QUOTA_NAME, ns), "spec": {"hard": hard}})
    limit_item = dict(limit_spec, type="Container")
    objects.append({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta(LIMITS_NAME, ns), "spec": {"limits": [limit_item]}})
    if admins is not None and subjects:
        objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(ADMINS_NAME, ns),
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": p.get("cluster_role", "kmetal-cluster-manager")},
                        "subjects": subjects})
    return ns, objects


def in_terms_of_options(err, kind):
    """ERR (the API server refused an object of KIND) restated with the module's options instead of the server's
    fields; ERR itself when no field is known."""
    causes = (err.details or {}).get("causes") or []
    named = [(option_of(kind, c.get("field")), c.get("message") or c.get("reason")) for c in causes]
    if not named or any(option is None for option, _msg in named):
        return err
    problems = ["%s: the API server refused it: %s" % (option, msg) for option, msg in named]
    return KmetalError("; ".join(problems), obj=err.obj, status=err.status, problems=problems)


def tenant_reconcile(module, connect):
    """The tenant module: a fleet of one. The same namespace check and the same unit writer as tenant_fleet, over a
    snapshot read with GETs."""
    p = module.params
    ns, objects = build_tenant(p)
    if p["state"] == "absent":
        return remove(module, connect(), p, ns)
    client = connect()
    snapshot = Snapshot(client)
    ns_live = snapshot.get("Namespace", ns)
    check_namespace(p["name"], ns, ns_live, p["adopt_namespace"])
    mark_created(objects[0], ns_live)
    absent = []
    if p.get("admins") is not None and not any(o["kind"] == "RoleBinding" for o in objects):
        absent.append(("RoleBinding", ns, ADMINS_NAME))  # admins given but empty: the binding goes
    report = new_report()
    _status, outcomes = write_unit(client, {"objects": objects, "absent": absent}, snapshot, module.check_mode, module._diff, report)
    result = {"changed": bool(report["changed"]), "namespace": ns,
              "objects": [{k: o[k] for k in ("kind", "name", "namespace", "changed")} for o in outcomes],
              "labels": (normalize(outcomes[0]["after"]) or {}).get("metadata", {}).get("labels", {})}
    if report["diffs"]:
        result["diff"] = report["diffs"]
    return result


def remove(module, client, p, ns):
    live = client.get("Namespace", ns)
    result = {"changed": False, "namespace": ns, "objects": [], "namespace_deleted": False}
    if live is None:
        return result
    owner = (live["metadata"].get("labels") or {}).get(TENANT_LABEL)
    if owner != p["name"]:
        raise KmetalError("the namespace is not labelled %s=%s; refusing to delete a namespace this tenant does not own" % (TENANT_LABEL, p["name"]),
                          obj=ident("Namespace", ns), field="namespace")
    clusters = [c["metadata"]["name"] for c in client.list("Cluster", ns)]
    subnets = [s["metadata"]["name"] for s in client.list("Subnet", label_selector="%s=%s" % (TENANT_LABEL, p["name"]))]
    result["clusters"], result["subnets"] = clusters, subnets
    if (clusters or subnets) and not p["force"]:
        raise KmetalError("refusing to delete the tenant while it still has clusters %s and subnets %s: delete them first or set force: true"
                          % (clusters, subnets), obj="tenant %s" % p["name"], field="state")
    if not created_here(live):
        # adopted: remove what the tenant added (its objects, labels and annotations), never the namespace
        return release(module, client, live, result)
    changed = delete_object(client, "Namespace", live, module.check_mode)
    result["changed"] = result["namespace_deleted"] = changed
    result["objects"].append({"kind": "Namespace", "name": ns, "namespace": None, "changed": changed})
    if changed and module._diff:
        result["diff"] = [diff_entry(live, None, ident("Namespace", ns))]
    if changed and p["wait"] and not module.check_mode:
        client.wait("Namespace", ns, None, lambda o: o is None, p["wait_timeout"], "the namespace to be deleted")
    return result


def release_steps(client, live, check_mode):
    """Give an adopted namespace LIVE back as it was before: the tenant's objects deleted, the collection's fields of
    the namespace (labels) dropped by applying an empty configuration with the same field manager. The same for the
    tenant module and a fleet's removal. Returns [(kind, name, namespace, changed, before, after)]."""
    ns = live["metadata"]["name"]
    steps = []
    for kind, name in (("RoleBinding", ADMINS_NAME), ("LimitRange", LIMITS_NAME), ("ResourceQuota", QUOTA_NAME)):
        current = client.get(kind, name, ns)
        if current is not None:
            current.setdefault("kind", kind)
        steps.append((kind, name, ns, delete_object(client, kind, current, check_mode), current, None))
    bare = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    changed, before, after = apply_object(client, bare, live, check_mode)
    steps.append(("Namespace", ns, None, changed, before, after))
    return steps


def release(module, client, live, result):
    """state: absent of an adopted namespace: release_steps, reported as the tenant module does."""
    diffs = []
    for kind, name, namespace, changed, before, after in release_steps(client, live, module.check_mode):
        result["changed"] |= changed
        result["objects"].append({"kind": kind, "name": name, "namespace": namespace, "changed": changed})
        if changed and module._diff:
            diffs.append(diff_entry(before, after, ident(kind, name, namespace)))
    if diffs:
        result["diff"] = diffs
    return result
