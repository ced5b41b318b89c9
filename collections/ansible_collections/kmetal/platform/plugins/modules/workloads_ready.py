#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: workloads_ready
short_description: Wait until a release's workloads are ready, and say why when they are not
version_added: 0.1.0
description:
  - Waits until every Deployment, StatefulSet and DaemonSet of a rendered manifest (for example C(helm get manifest))
    is rolled out and available, and every Job has completed. Helm hooks are left out.
  - A container that cannot get its image ends the wait once I(pull_failure_grace) has passed, with a message naming
    the image, so that an image missing from the site's mirror fails the install in a minute, not at the timeout.
  - A Job that failed ends the wait at once. At the timeout, the failure lists each workload that is not ready with
    its pods' states, their last events and the tails of their logs.
author:
  - kMetal platform team (@kmetal)
options:
  manifest:
    description: The rendered manifest (multi-document YAML) whose workloads to wait for.
    type: str
    default: ""
  workloads:
    description: More workloads to wait for, each with C(kind), C(name) and C(namespace).
    type: list
    elements: dict
    default: []
  namespace:
    description: The namespace of objects in I(manifest) that name none (the release namespace).
    type: str
    default: default
  timeout:
    description: Seconds to wait for all of them.
    type: int
    default: 600
  pull_failure_grace:
    description: Seconds a container may fail to pull its image before the wait ends naming it.
    type: int
    default: 60
  log_lines:
    description: Lines of each failing container's log in the report.
    type: int
    default: 20
extends_documentation_fragment:
  - kmetal.platform._api
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
attributes:
  check_mode:
    support: full
    details: Reports the workloads' current state without waiting.
  diff_mode:
    support: none
seealso:
  - module: kmetal.platform.tenant_cluster
"""

EXAMPLES = r"""
- name: Read the release's manifest
  ansible.builtin.command: helm get manifest kmetal -n kmetal-flux
  register: manifest
  changed_when: false

- name: Wait for the release's workloads
  kmetal.platform.workloads_ready:
    manifest: "{{ manifest.stdout }}"
    namespace: kmetal-flux
    timeout: 600
"""

RETURN = r"""
workloads:
  description: Each workload waited for, with whether it is ready and its state in words.
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "Deployment", "namespace": "kmetal-flux", "name": "kmetal-cert-manager", "ready": true, "state": "1/1 available"}]
seconds:
  description: How long the wait took.
  returned: always
  type: float
  sample: 12.4
not_ready:
  description: On failure, the report on each workload that is not ready (pods, events, log tails).
  returned: failure
  type: list
  elements: str
"""

import time

from ansible_collections.kmetal.platform.plugins.module_utils import _workloads as w
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KINDS, KmetalError
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run

OPTIONS = {
    "manifest": {"type": "str", "default": ""},
    "workloads": {"type": "list", "elements": "dict", "default": []},
    "namespace": {"type": "str", "default": "default"},
    "timeout": {"type": "int", "default": 600},
    "pull_failure_grace": {"type": "int", "default": 60},
    "log_lines": {"type": "int", "default": 20},
}


def _targets(params):
    targets = w.workloads_in(params["manifest"], params["namespace"])
    for i, item in enumerate(params["workloads"]):
        missing = [k for k in ("kind", "name") if not item.get(k)]
        if missing or item.get("kind") not in w.WORKLOAD_KINDS:
            raise KmetalError("workloads[%d] needs kind (one of %s), name and namespace" % (i, ", ".join(w.WORKLOAD_KINDS)), field="workloads")
        targets.append((item["kind"], item.get("namespace") or params["namespace"], item["name"]))
    return targets


def _report(client, target, obj, state, log_lines):
    kind, namespace, name = target
    lines = ["%s %s/%s: %s" % (kind, namespace, name, state)]
    if obj is None:
        return lines
    for pod in client.list("Pod", namespace, label_selector=w.selector_of(obj)):
        if pod.get("status", {}).get("phase") == "Succeeded":
            continue
        lines.append("  pod " + w.pod_state(pod))
        pod_name = pod["metadata"]["name"]
        events = client.request("GET", KINDS["Event"].path(None, namespace), query={"fieldSelector": "involvedObject.name=" + pod_name},
                                what="events of pod %s/%s" % (namespace, pod_name))[1]
        lines += ["    event " + e for e in w.event_lines((events or {}).get("items", []))]
        for cs in w._statuses(pod):
            if cs.get("ready") or "waiting" in (cs.get("state") or {}) and not cs.get("restartCount"):
                continue  # a container that never started has no log
            # a container waiting to restart has its last words in the previous instance; one that just exited, in its own
            previous = "waiting" in (cs.get("state") or {}) and bool(cs.get("restartCount"))
            for prev in (previous, not previous):
                query = {"container": cs["name"], "tailLines": log_lines, "previous": "true" if prev else "false"}
                status, text = client.request("GET", KINDS["Pod"].path(pod_name, namespace) + "/log", query=query, expect=(200, 400),
                                              what="log of %s/%s" % (pod_name, cs["name"]))
                if status == 200 and isinstance(text, str) and not text.startswith("unable to retrieve container logs"):
                    break
            if status == 200 and isinstance(text, str) and text.strip():
                lines.append("    log of %s (last %d lines):" % (cs["name"], log_lines))
                lines += ["      " + line for line in text.rstrip().splitlines()[-log_lines:]]
    return lines


def action(module, connect):
    params = module.params
    targets = _targets(params)
    client = connect()
    start = time.monotonic()
    deadline = start + params["timeout"]
    failing_since = {}
    while True:
        objs = {t: client.get(t[0], t[2], t[1]) for t in targets}
        states = {t: w.readiness(objs[t]) for t in targets}
        pending = [t for t in targets if not states[t][0]]
        result = {"changed": False, "seconds": round(time.monotonic() - start, 1),
                  "workloads": [{"kind": t[0], "namespace": t[1], "name": t[2], "ready": states[t][0], "state": states[t][1]} for t in targets]}
        if not pending or module.check_mode:
            return result
        now = time.monotonic()
        stop = None
        for t in pending:
            obj = objs[t]
            if w.job_failed(obj):
                stop = "%s %s/%s failed" % t
                break
            if obj is None:
                continue
            for pod in client.list("Pod", t[1], label_selector=w.selector_of(obj)):
                for failure in w.pull_failures(pod):
                    key = (pod["metadata"].get("uid"), failure[0])
                    if now - failing_since.setdefault(key, now) >= params["pull_failure_grace"]:
                        raise KmetalError(w.pull_failure_message(t[0], t[1], t[2], pod, failure), obj="%s %s/%s" % t, image=failure[1])
        if stop is None and now >= deadline:
            stop = "timed out after %ds waiting for %d of %d workloads" % (params["timeout"], len(pending), len(targets))
        if stop:
            report = []
            for t in pending:
                report += _report(client, t, objs[t], states[t][1], params["log_lines"])
            raise KmetalError("%s:\n%s" % (stop, "\n".join(report)), not_ready=report, workloads=result["workloads"])
        time.sleep(min(2.0, max(0.1, deadline - now)))


def main():
    run(argspec(**OPTIONS), action)


if __name__ == "__main__":
    main()
