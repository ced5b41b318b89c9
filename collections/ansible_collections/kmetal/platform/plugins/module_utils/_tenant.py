# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant: its namespace, labels, ResourceQuota, LimitRange and RoleBinding to kmetal-cluster-manager."""

from __future__ import annotations

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry, normalize
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems

QUOTA_NAME = "kmetal-tenant-quota"
LIMITS_NAME = "kmetal-tenant-limits"
ADMINS_NAME = "kmetal-tenant-admins"
TCP_COUNT = "count/tenantcontrolplanes.kamaji.clastix.io"
QUOTA_KEYS = {"cpu": "requests.cpu", "memory": "requests.memory", "storage": "requests.storage", "pods": "pods"}
LIMIT_KEYS = {
    "default_cpu": ("default", "cpu"), "default_memory": ("default", "memory"),
    "default_request_cpu": ("defaultRequest", "cpu"), "default_request_memory": ("defaultRequest", "memory"),
    "max_cpu": ("max", "cpu"), "max_memory": ("max", "memory"),
}

ARGS = dict(
    name={"type": "str", "required": True},
    namespace={"type": "str"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    labels={"type": "dict", "default": {}},
    quota={"type": "dict", "default": {}, "options": {
        "cpu": {"type": "raw"}, "memory": {"type": "raw"}, "storage": {"type": "raw"}, "pods": {"type": "raw"},
        "tenant_control_planes": {"type": "raw", "default": 10},
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


def desired_objects(p):
    """Validate the tenant module's parameters P and build its objects: [namespace, quota, limits, rolebinding?].
    Raises KmetalError naming every bad field; touches no API."""
    problems = Problems("tenant %s" % p.get("name"))
    name = problems.label_name("name", p.get("name"), max_len=56)
    ns = tenant_namespace(p.get("name"), p.get("namespace"))
    if p.get("namespace") is not None or name:
        problems.label_name("namespace", ns)
    problems.labels("labels", p.get("labels"))
    problems.int_range("wait_timeout", p.get("wait_timeout"), 1, 3600)
    if p.get("state", "present") == "absent":
        problems.check()
        return ns, []
    quota = p.get("quota") or {}
    hard = {}
    for key, target in QUOTA_KEYS.items():
        value = problems.quantity("quota.%s" % key, quota.get(key))
        if value is not None:
            hard[target] = value
    tcp = quota.get("tenant_control_planes", 10)
    if isinstance(tcp, str) and tcp.isdigit():
        tcp = int(tcp)
    if problems.int_range("quota.tenant_control_planes", tcp, 0, 10000) is not None:
        hard[TCP_COUNT] = str(tcp)
    limits = p.get("limits") or {}
    limit_spec = {}
    for key, (section, resource) in LIMIT_KEYS.items():
        # the argspec's defaults also when the builder is called without the module (the bulk path)
        value = problems.quantity("limits.%s" % key, limits.get(key, ARGS["limits"]["options"][key].get("default")))
        if value is not None:
            limit_spec.setdefault(section, {})[resource] = value
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
    problems.check()

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


def reconcile(module, connect):
    p = module.params
    ns, objects = desired_objects(p)
    if p["state"] == "absent":
        return remove(module, connect(), p, ns)
    client = connect()
    result = {"changed": False, "namespace": ns, "objects": []}
    diffs = []
    ns_live = client.get("Namespace", ns)
    ns_existed = ns_live is not None  # a namespace created now holds nothing yet: no reads of its objects
    if ns_live is not None and (ns_live["metadata"].get("labels") or {}).get(TENANT_LABEL) not in (None, p["name"]):
        raise KmetalError("the namespace belongs to tenant %r; choose another namespace" % ns_live["metadata"]["labels"][TENANT_LABEL],
                          obj=ident("Namespace", ns), field="namespace")
    if ns_live is not None and ns_live["metadata"].get("deletionTimestamp"):
        raise KmetalError("the namespace is being deleted; wait until it is gone, then run again", obj=ident("Namespace", ns))
    managed = [(o["kind"], o["metadata"]["name"]) for o in objects]
    if p.get("admins") is not None and ("RoleBinding", ADMINS_NAME) not in managed:
        managed.append(("RoleBinding", ADMINS_NAME))  # admins given but empty: the binding goes
    wanted = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    for kind, name in managed:
        desired = wanted.get((kind, name))
        namespace = None if kind == "Namespace" else ns
        live = ns_live if kind == "Namespace" else (client.get(kind, name, ns) if ns_existed else None)
        if desired is None:
            changed = delete_object(client, kind, live, module.check_mode)
            before, after = live, None
        elif kind != "Namespace" and ns_live is None and module.check_mode:
            # nothing can be dry-run inside a namespace that does not exist yet: the object would be created as given
            changed, before, after = True, None, desired
        else:
            changed, before, after = apply_object(client, desired, live, module.check_mode)
        if kind == "Namespace" and not module.check_mode:
            ns_live = after
        result["changed"] |= changed
        result["objects"].append({"kind": kind, "name": name, "namespace": namespace, "changed": changed})
        if changed and module._diff:
            diffs.append(diff_entry(before, after, ident(kind, name, namespace)))
        if kind == "Namespace":
            result["labels"] = (normalize(after) or {}).get("metadata", {}).get("labels", {})
    if diffs:
        result["diff"] = diffs
    return result


def remove(module, client, p, ns):
    live = client.get("Namespace", ns)
    result = {"changed": False, "namespace": ns, "objects": []}
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
    changed = delete_object(client, "Namespace", live, module.check_mode)
    result["changed"] = changed
    result["objects"].append({"kind": "Namespace", "name": ns, "namespace": None, "changed": changed})
    if changed and module._diff:
        result["diff"] = [diff_entry(live, None, ident("Namespace", ns))]
    if changed and p["wait"] and not module.check_mode:
        client.wait("Namespace", ns, None, lambda o: o is None, p["wait_timeout"], "the namespace to be deleted")
    return result
