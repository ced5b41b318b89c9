# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet profiles (cluster_profile module): Sveltos profiles that put add-ons on tenant clusters selected by label and
keep them there. A tenant's profile is a Profile in its namespace (Sveltos matches it only against that namespace's
clusters); a platform-wide one is a ClusterProfile. Drift detection (syncMode ContinuousWithDriftDetection) must run in
the management cluster, where tenants cannot remove it (addon-controller#1119): checked before any write."""

from __future__ import annotations

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry, normalize
from ansible_collections.kmetal.platform.plugins.module_utils._tenant import tenant_namespace
from ansible_collections.kmetal.platform.plugins.module_utils._validate import LABEL_KEY, LABEL_VALUE, Problems

API_VERSION = "config.projectsveltos.io/v1beta1"
SYNC_MODES = ["ContinuousWithDriftDetection", "Continuous", "OneTime", "DryRun"]
AGENT_IN_MGMT = "--agent-in-mgmt-cluster"

PROFILE_ARGS = dict(
    name={"type": "str", "required": True},
    tenant={"type": "str"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    cluster_selector={"type": "dict", "default": {}},
    helm_charts={"type": "list", "elements": "dict", "default": []},
    policy_refs={"type": "list", "elements": "dict", "default": []},
    sync_mode={"type": "str", "default": "ContinuousWithDriftDetection", "choices": SYNC_MODES},
    tier={"type": "int"},
    continue_on_error={"type": "bool"},
    labels={"type": "dict", "default": {}},
    sveltos_namespace={"type": "str", "default": "projectsveltos"},
)


def build_profile(p):
    """A Profile (with tenant) or ClusterProfile (without) from the module's parameters P. Touches no API."""
    ns = tenant_namespace(p["tenant"]) if p.get("tenant") else None
    kind = "Profile" if ns else "ClusterProfile"
    problems = Problems(ident(kind, p.get("name"), ns))
    problems.label_name("name", p.get("name"), max_len=253)
    if p.get("tenant") is not None:
        problems.label_name("tenant", p["tenant"], max_len=56)
    problems.labels("labels", p.get("labels"))
    if p.get("state", "present") == "absent":
        problems.raise_if_any()
        meta = {"name": p["name"], "namespace": ns} if ns else {"name": p["name"]}
        return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta}
    selector = p.get("cluster_selector") or {}
    for key, value in selector.items():
        if not LABEL_KEY.match(str(key)) or not isinstance(value, str) or not LABEL_VALUE.match(value):
            problems.add("cluster_selector.%s" % key, "%r is not a label KEY: VALUE pair (the tenant clusters' labels, e.g. kmetal.io/env: prod)" % (value,))
    if not selector and ns is None:
        problems.add("cluster_selector", "is empty: a platform-wide profile would match every cluster Sveltos manages, the management cluster's "
                                         "own included; give the labels of the tenant clusters it is for (e.g. app.kubernetes.io/managed-by: "
                                         "kmetal-platform)")
    for i, chart in enumerate(p.get("helm_charts") or []):
        for key in ("repositoryURL", "releaseName", "releaseNamespace"):
            if not chart.get(key):
                problems.add("helm_charts[%d].%s" % (i, key),
                             "is required (Sveltos' helmCharts entry: repositoryURL, repositoryName, chartName, chartVersion, releaseName, "
                             "releaseNamespace)")
    for i, ref in enumerate(p.get("policy_refs") or []):
        if ref.get("kind") not in ("ConfigMap", "Secret", "GitRepository", "OCIRepository", "Bucket"):
            problems.add("policy_refs[%d].kind" % i, "%r is not one of ConfigMap, Secret, GitRepository, OCIRepository, Bucket" % (ref.get("kind"),))
        if not ref.get("name"):
            problems.add("policy_refs[%d].name" % i, "is required")
        if ns and ref.get("namespace") not in (None, ns):
            problems.add("policy_refs[%d].namespace" % i, "%s is not the tenant's namespace %s: a tenant's profile refers to its own objects only"
                         % (ref.get("namespace"), ns))
    if not p.get("helm_charts") and not p.get("policy_refs"):
        problems.add("helm_charts", "give helm_charts or policy_refs: a profile with neither deploys nothing")
    problems.int_range("tier", p.get("tier"), 1, 1000000)
    problems.raise_if_any()
    labels = dict(p.get("labels") or {})
    labels.update(MANAGED_BY)
    if p.get("tenant"):
        labels[TENANT_LABEL] = p["tenant"]
    spec = {"clusterSelector": {"matchLabels": dict(selector)}, "syncMode": p["sync_mode"]}
    if p.get("helm_charts"):
        spec["helmCharts"] = [dict(c) for c in p["helm_charts"]]
    if p.get("policy_refs"):
        spec["policyRefs"] = [dict(r, namespace=r.get("namespace") or ns) if ns else dict(r) for r in p["policy_refs"]]
    if p.get("tier") is not None:
        spec["tier"] = p["tier"]
    if p.get("continue_on_error") is not None:
        spec["continueOnError"] = p["continue_on_error"]
    meta = {"name": p["name"], "labels": labels}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def check_drift_detection(client, p, warn):
    """ContinuousWithDriftDetection deploys Sveltos' drift-detection manager: by default into each managed cluster,
    where a tenant with cluster-admin can delete it. Refused unless the addon-controller runs with
    --agent-in-mgmt-cluster (the manager then runs here, in the management cluster)."""
    if p["sync_mode"] != "ContinuousWithDriftDetection":
        return
    deployment = client.get("Deployment", "addon-controller", p["sveltos_namespace"])
    if deployment is None:
        if warn:
            warn("Sveltos' addon-controller is not in %s: the profile is stored, and nothing deploys it until Sveltos runs there "
                 "(with %s=true)" % (p["sveltos_namespace"], AGENT_IN_MGMT))
        return
    for container in ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        args = list(container.get("args") or []) + list(container.get("command") or [])
        if AGENT_IN_MGMT in args or "%s=true" % AGENT_IN_MGMT in args:
            return
    raise KmetalError("Sveltos' addon-controller (%s/addon-controller) runs without %s=true: drift detection would run inside the tenant "
                      "clusters, where their admins can delete it (addon-controller#1119); start it with %s=true, or choose "
                      "sync_mode Continuous" % (p["sveltos_namespace"], AGENT_IN_MGMT, AGENT_IN_MGMT), field="sync_mode")


def profile_reconcile(module, connect):
    p = module.params
    desired = build_profile(p)
    meta = desired["metadata"]
    where = ident(desired["kind"], meta["name"], meta.get("namespace"))
    client = connect()
    live = client.get(desired["kind"], meta["name"], meta.get("namespace"))
    if p["state"] == "absent":
        if live is not None and (live["metadata"].get("labels") or {}).get(list(MANAGED_BY)[0]) != MANAGED_BY[list(MANAGED_BY)[0]]:
            raise KmetalError("was not created by kmetal.platform: refusing to delete it", obj=where, field="name")
        changed = delete_object(client, desired["kind"], live, module.check_mode)
        result = {"changed": changed, "profile": None}
        if changed and module._diff:
            result["diff"] = diff_entry(live, None, where)
        return result
    if live is not None and any((live["metadata"].get("labels") or {}).get(k) != v for k, v in MANAGED_BY.items()):
        raise KmetalError("exists and was not created by kmetal.platform: refusing to take it over; give the profile another name",
                          obj=where, field="name")
    if live is not None and (live["metadata"].get("labels") or {}).get(TENANT_LABEL) != meta["labels"].get(TENANT_LABEL):
        raise KmetalError("exists and belongs to %s: refusing to take it over" % ((live["metadata"].get("labels") or {}).get(TENANT_LABEL) or "no tenant"),
                          obj=where, field="name")
    if meta.get("namespace") and client.get("Namespace", meta["namespace"]) is None:
        if module.check_mode:
            module.warn("the profile %s depends on the namespace %s, which does not exist yet: predicted as given" % (meta["name"], meta["namespace"]))
            result = {"changed": True, "profile": desired}
            if module._diff:
                result["diff"] = diff_entry(None, desired, where)
            return result
        raise KmetalError("the namespace %s does not exist: create the tenant first (kmetal.platform.tenant)" % meta["namespace"], obj=where,
                          field="tenant")
    check_drift_detection(client, p, module.warn)
    changed, before, after = apply_object(client, desired, live, module.check_mode)
    result = {"changed": changed, "profile": normalize(after)}
    if changed and module._diff:
        result["diff"] = diff_entry(before, after, where)
    return result
