# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tenant cluster's lifecycle: sleep and wake of its hosted control plane, and guarded version changes.

validate() checks the options without touching the API (called by _cluster.build_cluster); settle() turns the
desired Cluster into what the run must write given the live one (the replica count to wake to, kept on the object)
and refuses a version change that cannot work, before any write (called by _cluster.cluster_check, so the module
and the fleet share it); wait_control_plane() reads what the control plane reports (KamajiControlPlane, Kamaji's
TenantControlPlane) until it is asleep or runs the new version.
"""

from __future__ import annotations

import json
import os
import re
import time

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import FIELD_MANAGER, KmetalError, ident

# The control-plane replica count a sleeping cluster wakes to, kept on the Cluster itself: a wake restores what the
# cluster had, whoever runs it, not a default.
WAKE_REPLICAS = "kmetal.io/wake-replicas"
TENANT_SOURCE = "runtime:kamaji-tenant "  # the artifact manifest's source of a tenant version's images

LIFECYCLE_ARGS = dict(
    sleep={"type": "bool"},
    artifact_manifest={"type": "path"},
    available_versions={"type": "list", "elements": "str"},
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_MANIFESTS = {}


def version_tuple(text):
    match = _VERSION.match(str(text or ""))
    return tuple(int(g) for g in match.groups()) if match else None


def manifest_versions(manifest):
    """The tenant Kubernetes versions an artifact manifest holds images for (kmetal.platform.artifact_manifest's
    tenant_versions, also the images whose source is 'runtime:kamaji-tenant <version>')."""
    found = {str(v) for v in (manifest or {}).get("tenant_versions") or []}
    for image in (manifest or {}).get("images") or []:
        source = str((image or {}).get("source") or "")
        if source.startswith(TENANT_SOURCE):
            found.add(source[len(TENANT_SOURCE):].strip())
    return found


def _read_manifest(path):
    stamp = os.stat(path).st_mtime_ns
    if _MANIFESTS.get(path, (None,))[0] != stamp:
        with open(path) as handle:
            _MANIFESTS[path] = (stamp, json.load(handle))
    return _MANIFESTS[path][1]


def available(p):
    """(set of versions, where they come from) the version guard allows, or (None, None) when no list is given."""
    if p.get("available_versions") is not None:
        return set(p["available_versions"]), "available_versions"
    path = p.get("artifact_manifest")
    if path:
        return manifest_versions(_read_manifest(path)), "the artifact manifest %s" % path
    return None, None


def validate(p, problems):
    """The lifecycle options, without the API."""
    replicas = (p.get("control_plane") or {}).get("replicas")
    if p.get("sleep") is False and replicas == 0:
        problems.add("control_plane.replicas", "0 puts the control plane to sleep, which contradicts sleep: false: give the replica count to wake "
                                               "to, or leave it out to restore the count kept on the cluster (%s)" % WAKE_REPLICAS)
    if p.get("available_versions") is not None and p.get("artifact_manifest"):
        problems.add("available_versions", "give available_versions or artifact_manifest, not both")
    for i, version in enumerate(p.get("available_versions") or []):
        problems.version("available_versions[%d]" % i, version)
    path = p.get("artifact_manifest")
    if path and p.get("available_versions") is None:
        try:
            versions = manifest_versions(_read_manifest(path))
        except (OSError, ValueError) as err:
            problems.add("artifact_manifest", "%s cannot be read as the platform's artifact manifest (%s): give the JSON that "
                                              "kmetal.platform.artifacts writes (artifacts_manifest_path), or list available_versions"
                                              % (path, getattr(err, "strerror", None) or err))
        else:
            if not versions:
                problems.add("artifact_manifest", "%s lists no tenant Kubernetes versions (no image with source '%s<version>'): "
                                                  "re-run kmetal.platform.artifacts with the tenants' versions, or list available_versions"
                                                  % (path, TENANT_SOURCE.strip()))


def _topology(obj):
    return ((obj or {}).get("spec") or {}).get("topology") or {}


def _cp_replicas(obj):
    return (_topology(obj).get("controlPlane") or {}).get("replicas")


def _owns(live, path):
    """True when this collection's field manager owns PATH (a tuple of keys) of LIVE."""
    for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            node = entry.get("fieldsV1") or {}
            for key in path:
                node = (node or {}).get("f:" + key)
                if node is None:
                    break
            else:
                return True
    return False


def sleeping(obj):
    return _cp_replicas(obj) == 0


def wake_replicas(obj):
    value = (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(WAKE_REPLICAS)
    return int(value) if value is not None and str(value).isdigit() and int(value) > 0 else None


def settle(desired, live, p, warn=None):
    """Make DESIRED what this run writes over LIVE, or refuse: the sleep state and the replica count to wake to
    (sleep: omitted keeps a sleeping cluster asleep), then the version guard. Depends only on P and LIVE, so it can
    run again after a conflict."""
    meta = desired["metadata"]
    topology = desired["spec"]["topology"]
    where = ident("Cluster", meta["name"], meta.get("namespace"))
    given = (p.get("control_plane") or {}).get("replicas")
    sleep = p.get("sleep")
    if sleep is None and given == 0:
        sleep = True  # control_plane.replicas: 0 is the sleep it always was, now with the count kept
    if sleep is None and sleeping(live):
        sleep = True  # a sleeping cluster stays asleep until a run says sleep: false
    live_replicas = _cp_replicas(live)
    kept = wake_replicas(live)
    annotations = meta.setdefault("annotations", {})
    annotations.pop(WAKE_REPLICAS, None)
    if sleep:
        wake = given if given else kept or (live_replicas if live_replicas else None)
        topology["controlPlane"] = dict(topology.get("controlPlane") or {}, replicas=0)
        if wake:
            annotations[WAKE_REPLICAS] = str(wake)
        elif warn:
            warn("%s sleeps with no replica count to wake to (the cluster never ran with a set count): waking it will need "
                 "control_plane.replicas" % where)
    else:
        if sleeping(live):
            wake = given or kept
            if not wake:
                raise KmetalError("the cluster sleeps and keeps no replica count to wake to (annotation %s): give control_plane.replicas"
                                  % WAKE_REPLICAS, obj=where, field="control_plane.replicas")
            topology["controlPlane"] = dict(topology.get("controlPlane") or {}, replicas=wake)
        elif given is None and live_replicas is not None and _owns(live, ("spec", "topology", "controlPlane", "replicas")):
            # a count this collection wrote (a wake) stays when the option is left out: the apply must not drop it
            topology["controlPlane"] = dict(topology.get("controlPlane") or {}, replicas=live_replicas)
    if not annotations:
        del meta["annotations"]
    guard_version(desired, live, p, where, warn)


def guard_version(desired, live, p, where, warn=None):
    """Refuse, before any write, a version this cluster cannot move to: a change while it sleeps, a downgrade, a
    skipped minor, or a version the platform's artifacts do not hold (the control plane's images could not be
    pulled, and Kamaji forbids going back)."""
    target = desired["spec"]["topology"].get("version")
    current = _topology(live).get("version")
    if live is not None and target == current:
        return
    if live is not None and sleeping(live):
        raise KmetalError("the cluster sleeps (control-plane replicas 0): wake it first (sleep: false, with its current version %s), "
                          "then change the version to %s" % (current, target), obj=where, field="version")
    if live is not None and sleeping(desired):
        raise KmetalError("a version change and sleep in one run: change the version while the cluster runs (sleep: false), "
                          "then put it to sleep", obj=where, field="version")
    want, have = version_tuple(target), version_tuple(current)
    if want and have:
        if want < have:
            raise KmetalError("%s is older than the running %s: a control plane is never downgraded (Kamaji refuses going back); keep "
                              "version: %s" % (target, current, current), obj=where, field="version")
        if want[0] != have[0] or want[1] > have[1] + 1:
            raise KmetalError("%s skips a minor version from %s: upgrade one minor at a time (next: v%d.%d.x)"
                              % (target, current, have[0], have[1] + 1), obj=where, field="version")
    versions, source = available(p)
    if versions is None and live is not None and warn:
        warn("%s: %s -> %s was not checked against the platform's artifacts: give artifact_manifest or available_versions" % (where, current, target))
    if versions is not None and target not in versions:
        raise KmetalError("%s is not in %s (it holds: %s): its control-plane images may not be pullable on this site; add the version "
                          "to the tenants' versions and re-run kmetal.platform.artifacts (then the mirror), or pick one it holds"
                          % (target, source, ", ".join(sorted(versions, key=version_tuple)) or "none"), obj=where, field="version")


# -- what the control plane reports ---------------------------------------------------------------------------------
def control_plane(client, cluster):
    """What the tenant control plane reports: its KamajiControlPlane (the Cluster's spec.controlPlaneRef) and
    Kamaji's TenantControlPlane of the same name. None while the Cluster has no control plane yet."""
    ref = ((cluster or {}).get("spec") or {}).get("controlPlaneRef") or {}
    if ref.get("kind") != "KamajiControlPlane" or not ref.get("name"):
        return None
    ns = cluster["metadata"]["namespace"]
    kcp = client.get("KamajiControlPlane", ref["name"], ns)
    if kcp is None:
        return None
    tcp = client.get("TenantControlPlane", ref["name"], ns)
    status = kcp.get("status") or {}
    tcp_version = (((tcp or {}).get("status") or {}).get("kubernetesResources") or {}).get("version") or {}
    return {"kind": "KamajiControlPlane", "name": ref["name"], "version": tcp_version.get("version") or status.get("version"),
            "status": tcp_version.get("status"), "replicas": status.get("replicas"), "ready_replicas": status.get("readyReplicas"),
            "tenant_control_plane": tcp is not None}


def asleep(report):
    if report is None:
        return False
    if report["status"] is not None:
        return report["status"] == "Sleeping"
    return not report["replicas"] and not report["ready_replicas"]


def runs_version(report, version):
    if report is None or version_tuple(report["version"]) != version_tuple(version):
        return False
    return report["status"] in (None, "Ready") and bool(report["ready_replicas"])


def wait_control_plane(client, name, namespace, predicate, timeout, what):
    """Poll the Cluster and its control plane until PREDICATE(report); returns (report, seconds)."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        report = control_plane(client, client.get("Cluster", name, namespace))
        if predicate(report):
            return report, round(time.monotonic() - start, 1)
        if time.monotonic() + 1.0 > deadline:
            raise KmetalError("timed out after %ss waiting for the control plane to %s" % (timeout, what), obj=ident("Cluster", name, namespace),
                              control_plane=report)
        client.sleep(1.0)


def wait_deleted(client, name, namespace, timeout):
    """Wait until the Cluster NAME is gone. A timeout says what holds it: Cluster API's Deleting condition (what it
    still waits for: workers, control plane, infrastructure) and the finalizers left, so that an operator sees
    which controller to look at (a cluster whose KubeVirt workers no virt-controller deletes stays forever)."""
    try:
        client.wait("Cluster", name, namespace, lambda o: o is None, timeout, "the cluster to be deleted")
    except KmetalError:
        holds = deletion_holds(client.get("Cluster", name, namespace))
        if not holds:
            raise
        raise KmetalError("timed out after %ss waiting for the cluster to be deleted%s" % (timeout, holds), obj=ident("Cluster", name, namespace))


def deletion_holds(live):
    """'; Cluster API says: ...; finalizers left: [...]' for a Cluster being deleted, or ''."""
    words = []
    for cond in ((live or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Deleting" and cond.get("status") == "True":
            message = " ".join(str(cond.get("message") or "").split())
            words.append("Cluster API says %s%s" % (cond.get("reason") or "Deleting", (": " + message) if message else ""))
    finalizers = ((live or {}).get("metadata") or {}).get("finalizers") or []
    if finalizers:
        words.append("finalizers left: %s" % ", ".join(finalizers))
    return "; " + "; ".join(words) if words else ""
