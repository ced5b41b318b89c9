# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting for a release's workloads, and saying why they are not ready: pure logic over the objects, so that the
module's loop (workloads_ready) only reads. A missing image ends the wait at once, naming the image; anything
else that is not ready by the deadline is reported with its pods' states, last events and log tails."""

from __future__ import annotations

try:
    import yaml
except ImportError:  # _module.run reports the missing library (HAS_HTTP_YAML covers PyYAML)
    yaml = None

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
# Waiting reasons that mean the image cannot be had (as opposed to a container that is merely slow to start).
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


def workloads_in(manifest, namespace):
    """(kind, namespace, name) of every workload in a rendered manifest (multi-document YAML), hooks left out
    (Helm runs and deletes them itself); objects without a namespace are in NAMESPACE (the release's)."""
    found = []
    for doc in yaml.safe_load_all(manifest or ""):
        if not isinstance(doc, dict) or doc.get("kind") not in WORKLOAD_KINDS:
            continue
        meta = doc.get("metadata") or {}
        if "helm.sh/hook" in (meta.get("annotations") or {}):
            continue
        key = (doc["kind"], meta.get("namespace") or namespace, meta["name"])
        if key not in found:
            found.append(key)
    return found


def readiness(obj):
    """(ready, what) for a Deployment, StatefulSet, DaemonSet or Job as the API returned it (None: absent)."""
    if obj is None:
        return False, "not created"
    kind, spec, status = obj.get("kind"), obj.get("spec") or {}, obj.get("status") or {}
    meta = obj.get("metadata") or {}
    if kind != "Job" and status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "its controller has not seen the latest change yet"
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                return False, "rollout stuck: %s" % cond.get("message", "")
        ok = status.get("updatedReplicas", 0) >= want and status.get("availableReplicas", 0) >= want
        return ok, "%d/%d available" % (status.get("availableReplicas", 0), want)
    if kind == "StatefulSet":
        want = spec.get("replicas", 1)
        ready = status.get("readyReplicas", 0)
        rolled = status.get("updateRevision") in (None, status.get("currentRevision")) or status.get("updatedReplicas", 0) >= want
        return ready >= want and rolled, "%d/%d ready" % (ready, want)
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        ready, updated = status.get("numberReady", 0), status.get("updatedNumberScheduled", 0)
        return ready >= want and updated >= want, "%d/%d ready on their nodes" % (ready, want)
    if kind == "Job":
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") == "Complete":
                return True, "complete"
            if cond.get("status") == "True" and cond.get("type") == "Failed":
                return False, "failed: %s" % (cond.get("message") or cond.get("reason") or "")
        return False, "%d succeeded, %d active, %d failed" % (status.get("succeeded", 0), status.get("active", 0), status.get("failed", 0))
    return True, "not a workload"


def job_failed(obj):
    """A Job that has given up: the wait cannot end well, so it ends now."""
    return bool(obj) and obj.get("kind") == "Job" and any(
        c.get("type") == "Failed" and c.get("status") == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def selector_of(obj):
    """The label selector of a workload's pods, as a query string (matchLabels only, as the charts use)."""
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if obj.get("kind") == "Job" and not labels:
        labels = {"job-name": obj["metadata"]["name"]}
    return ",".join("%s=%s" % kv for kv in sorted(labels.items()))


def _statuses(pod):
    status = pod.get("status") or {}
    return (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])


def pull_failures(pod):
    """[(container, image, reason, message)] of the pod's containers that cannot get their image."""
    out = []
    for cs in _statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in PULL_FAILURES:
            out.append((cs.get("name"), cs.get("image"), waiting["reason"], waiting.get("message", "")))
    return out


def pod_state(pod):
    """One line on a pod: its phase, and each container that is not ready with why."""
    status = pod.get("status") or {}
    parts = []
    for cs in _statuses(pod):
        if cs.get("ready"):
            continue
        state = cs.get("state") or {}
        if "waiting" in state:
            why = state["waiting"].get("reason", "waiting")
            msg = state["waiting"].get("message")
        elif "terminated" in state:
            why = "terminated (%s, exit %s)" % (state["terminated"].get("reason", ""), state["terminated"].get("exitCode"))
            msg = state["terminated"].get("message")
        else:
            why, msg = "running, not ready", None
        line = "%s %s" % (cs.get("name"), why)
        if cs.get("restartCount"):
            line += " (%d restarts)" % cs["restartCount"]
        if msg:
            line += ": %s" % _short(msg)
        parts.append(line)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            parts.append("not scheduled: %s" % _short(cond.get("message", "")))
    return "%s %s%s" % (pod["metadata"]["name"], status.get("phase", "Unknown"), ("; " + "; ".join(parts)) if parts else "")


def event_lines(events, limit=5):
    """The last LIMIT events, oldest first, one line each."""
    def when(e):
        return e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp") or ""
    out = []
    for e in sorted(events, key=when)[-limit:]:
        count = " (x%d)" % e["count"] if e.get("count", 1) > 1 else ""
        out.append("%s %s%s: %s" % (e.get("type", ""), e.get("reason", ""), count, _short(e.get("message", ""))))
    return out


def _short(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def pull_failure_message(kind, namespace, name, pod, failure):
    container, image, reason, message = failure
    # the error's obj names the workload: the message starts with what is wrong
    return ("cannot start: the image %s (container %s of pod %s) cannot be pulled (%s: %s). Is it in the site's "
            "registry mirror? kmetal.platform.artifacts lists every image the site needs and kmetal.platform.mirror fills the mirror."
            % (image, container, pod["metadata"]["name"], reason, _short(message, 400)))
