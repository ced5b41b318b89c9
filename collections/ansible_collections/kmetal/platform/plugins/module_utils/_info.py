# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The read-only _info modules: one LIST per kind whatever the fleet's size, filtered here."""

from __future__ import annotations

import copy

from ansible_collections.kmetal.platform.plugins.module_utils._cluster import summary
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import TENANT_LABEL
from ansible_collections.kmetal.platform.plugins.module_utils._tenant import ADMINS_NAME, QUOTA_NAME, tenant_namespace
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems

TENANT_INFO_ARGS = dict(name={"type": "str"})
VPC_INFO_ARGS = dict(name={"type": "str"}, tenant={"type": "str"})
SUBNET_INFO_ARGS = dict(name={"type": "str"}, vpc={"type": "str"}, tenant={"type": "str"})
CLUSTER_INFO_ARGS = dict(name={"type": "str"}, tenant={"type": "str"}, namespace={"type": "str"})


def _validate(p, what):
    problems = Problems(what)
    for key in ("name", "vpc", "tenant", "namespace"):
        if p.get(key) is not None:
            problems.label_name(key, p[key])
    problems.raise_if_any()


def _clean(obj):
    out = copy.deepcopy(obj)
    for key in ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp"):
        out.get("metadata", {}).pop(key, None)
    return out


def _selector(tenant):
    return "%s=%s" % (TENANT_LABEL, tenant) if tenant else TENANT_LABEL


def tenant_info(module, connect):
    p = module.params
    _validate(p, "tenant_info")
    client = connect()
    namespaces = client.list("Namespace", label_selector=_selector(p.get("name")))
    quotas = {q["metadata"]["namespace"]: q for q in client.list("ResourceQuota", label_selector=_selector(p.get("name")))
              if q["metadata"]["name"] == QUOTA_NAME}
    bindings = {b["metadata"]["namespace"]: b for b in client.list("RoleBinding", label_selector=_selector(p.get("name")))
                if b["metadata"]["name"] == ADMINS_NAME}
    clusters = {}
    for c in client.list("Cluster"):
        clusters.setdefault(c["metadata"]["namespace"], []).append(c["metadata"]["name"])
    tenants = []
    for ns in sorted(namespaces, key=lambda n: n["metadata"]["name"]):
        nsname = ns["metadata"]["name"]
        quota = quotas.get(nsname) or {}
        binding = bindings.get(nsname) or {}
        subjects = binding.get("subjects") or []
        tenants.append({
            "name": ns["metadata"]["labels"][TENANT_LABEL],
            "namespace": nsname,
            "phase": (ns.get("status") or {}).get("phase"),
            "labels": ns["metadata"].get("labels") or {},
            "quota": {"hard": (quota.get("spec") or {}).get("hard") or {}, "used": (quota.get("status") or {}).get("used") or {}},
            "admins": {"users": [s["name"] for s in subjects if s.get("kind") == "User"],
                       "groups": [s["name"] for s in subjects if s.get("kind") == "Group"]},
            "clusters": sorted(clusters.get(nsname, [])),
        })
    return {"changed": False, "tenants": tenants, "names": [t["name"] for t in tenants]}


def vpc_info(module, connect):
    p = module.params
    _validate(p, "vpc_info")
    client = connect()
    items = client.list("Vpc", label_selector="%s=%s" % (TENANT_LABEL, p["tenant"]) if p.get("tenant") else None)
    vpcs = [_clean(v) for v in items if not p.get("name") or v["metadata"]["name"] == p["name"]]
    vpcs.sort(key=lambda v: v["metadata"]["name"])
    return {"changed": False, "vpcs": vpcs, "names": [v["metadata"]["name"] for v in vpcs]}


def subnet_info(module, connect):
    p = module.params
    _validate(p, "subnet_info")
    client = connect()
    items = client.list("Subnet", label_selector="%s=%s" % (TENANT_LABEL, p["tenant"]) if p.get("tenant") else None)
    subnets = [_clean(s) for s in items
               if (not p.get("name") or s["metadata"]["name"] == p["name"]) and (not p.get("vpc") or (s.get("spec") or {}).get("vpc") == p["vpc"])]
    subnets.sort(key=lambda s: s["metadata"]["name"])
    return {"changed": False, "subnets": subnets, "names": [s["metadata"]["name"] for s in subnets]}


def cluster_info(module, connect):
    p = module.params
    _validate(p, "tenant_cluster_info")
    namespace = p.get("namespace") or (tenant_namespace(p["tenant"]) if p.get("tenant") else None)
    client = connect()
    items = client.list("Cluster", namespace)
    clusters = [_clean(c) for c in items if not p.get("name") or c["metadata"]["name"] == p["name"]]
    clusters.sort(key=lambda c: (c["metadata"].get("namespace"), c["metadata"]["name"]))
    return {"changed": False, "clusters": clusters, "summaries": [summary(c) for c in clusters]}
