# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hand-over of the kmetal release to Flux: where the chart is published, and whether the HelmRelease has
applied what the platform role asked for."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def flux_chart_ref(url, version):
    """Where `helm push` puts the chart for the OCIRepository URL (oci://<registry>/<path>/<chart>): the repository
    helm pushes to (the URL without the chart's name), the chart's name, and the tag (Helm writes a version's + as _)."""
    if not isinstance(url, str) or not url.startswith("oci://") or "/" not in url[len("oci://"):].strip("/"):
        raise AnsibleFilterError("flux_chart_ref: %r is not oci://<registry>/<path>/<chart>" % (url,))
    repository, chart = url.rstrip("/").rsplit("/", 1)
    return {"repository": repository, "chart": chart, "tag": str(version).replace("+", "_"),
            "registry": url[len("oci://"):].split("/", 1)[0]}


def flux_chart_revision(version, digest):
    """The chart version helm-controller records for a chart from an OCIRepository pinned at DIGEST: VERSION with its
    build metadata replaced by the digest's first 12 hex characters (so that a moved tag is a new version)."""
    algorithm, hexdigest = (str(digest or "").split(":", 1) + [""])[:2]
    if not algorithm or len(hexdigest) < 12:
        raise AnsibleFilterError("flux_chart_revision: %r is not <algorithm>:<hex digest>" % (digest,))
    return "%s+%s" % (str(version).split("+", 1)[0], hexdigest[:12])


def _condition(obj, kind):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return {}


def flux_release_state(helmrelease, version, token=""):
    """Whether HELMRELEASE (the object as read) has applied what the role asked for: its spec seen
    (observedGeneration), the request TOKEN handled (reconcile.fluxcd.io/requestedAt; empty: none asked), the
    newest release in its history deployed at chart VERSION, and Ready. failed: helm-controller stopped retrying
    (Stalled). message: what it is at, for the timeout's error."""
    if not helmrelease:
        return {"done": False, "failed": False, "message": "the HelmRelease does not exist"}
    meta, status = helmrelease.get("metadata") or {}, helmrelease.get("status") or {}
    ready, stalled = _condition(helmrelease, "Ready"), _condition(helmrelease, "Stalled")
    latest = (status.get("history") or [{}])[0]
    waiting = []
    if status.get("observedGeneration") != meta.get("generation"):
        waiting.append("generation %s not observed yet" % meta.get("generation"))
    if token and status.get("lastHandledReconcileAt") != token:
        waiting.append("request %s not handled yet" % token)
    if latest.get("chartVersion") != str(version) or latest.get("status") != "deployed":
        waiting.append("newest release %s at %s, wanted deployed at %s" % (latest.get("status", "none"), latest.get("chartVersion", "none"), version))
    if ready.get("status") != "True":
        waiting.append("Ready %s (%s: %s)" % (ready.get("status", "Unknown"), ready.get("reason", ""), ready.get("message", "")))
    failed = stalled.get("status") == "True" and not (token and status.get("lastHandledReconcileAt") != token)
    return {"done": not waiting, "failed": failed and bool(waiting),
            "message": "; ".join(waiting) or "Ready at %s (helm revision %s)" % (version, latest.get("version"))}


class FilterModule:
    def filters(self):
        return {"flux_chart_ref": flux_chart_ref, "flux_chart_revision": flux_chart_revision, "flux_release_state": flux_release_state}
