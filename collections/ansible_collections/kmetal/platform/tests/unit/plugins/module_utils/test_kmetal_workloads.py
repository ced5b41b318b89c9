# -*- coding: utf-8 -*-
"""Pure logic of workloads_ready: which workloads a manifest has, when each is ready, and what is said when not."""

from __future__ import annotations

import pytest

from ansible_collections.kmetal.platform.plugins.module_utils import _workloads as w

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: a}
spec: {selector: {matchLabels: {app: web, tier: x}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: batch/v1
kind: Job
metadata: {name: hook, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
"""


def test_workloads_in_a_manifest_leave_out_hooks_and_default_the_namespace():
    assert w.workloads_in(MANIFEST, "rel") == [("Deployment", "a", "web"), ("StatefulSet", "rel", "db")]


@pytest.mark.parametrize("obj, ready", [
    (None, False),
    ({"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
      "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2}}, True),
    ({"kind": "Deployment", "metadata": {"generation": 3}, "spec": {"replicas": 2},
      "status": {"observedGeneration": 2, "updatedReplicas": 2, "availableReplicas": 2}}, False),
    ({"kind": "Deployment", "metadata": {"generation": 1}, "spec": {},
      "status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 0}}, False),
    ({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 3},
      "status": {"observedGeneration": 1, "readyReplicas": 3, "currentRevision": "r1", "updateRevision": "r1"}}, True),
    ({"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 3},
      "status": {"observedGeneration": 1, "readyReplicas": 3, "currentRevision": "r1", "updateRevision": "r2", "updatedReplicas": 1}}, False),
    ({"kind": "DaemonSet", "metadata": {"generation": 1},
      "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2}}, True),
    ({"kind": "DaemonSet", "metadata": {"generation": 1},
      "status": {"observedGeneration": 1, "desiredNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2}}, False),
    ({"kind": "Job", "metadata": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}, True),
    ({"kind": "Job", "metadata": {}, "status": {"active": 1}}, False),
])
def test_readiness_of_each_workload_kind(obj, ready):
    assert w.readiness(obj)[0] is ready


def test_a_failed_job_ends_the_wait_and_a_running_one_does_not():
    failed = {"kind": "Job", "metadata": {}, "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}}
    assert w.job_failed(failed) and "BackoffLimitExceeded" in w.readiness(failed)[1]
    assert not w.job_failed({"kind": "Job", "metadata": {}, "status": {"active": 1}})


def test_pull_failures_name_the_container_and_the_image():
    pod = {"metadata": {"name": "p"}, "status": {"containerStatuses": [
        {"name": "ok", "ready": True, "state": {"running": {}}},
        {"name": "c", "image": "quay.io/x/y:v1", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}]}}
    assert w.pull_failures(pod) == [("c", "quay.io/x/y:v1", "ImagePullBackOff", "not found")]
    msg = w.pull_failure_message("Deployment", "ns", "d", pod, w.pull_failures(pod)[0])
    assert "quay.io/x/y:v1" in msg and "mirror" in msg and "container c of pod p" in msg
    crash = {"metadata": {"name": "q"}, "status": {"containerStatuses": [
        {"name": "c", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}}]}}
    assert w.pull_failures(crash) == []
    assert "c CrashLoopBackOff (4 restarts)" in w.pod_state(crash)


def test_the_selector_and_the_last_events():
    assert w.selector_of({"kind": "Deployment", "spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}}) == "a=1,b=2"
    assert w.selector_of({"kind": "Job", "metadata": {"name": "j"}, "spec": {}}) == "job-name=j"
    events = [{"type": "Warning", "reason": "Failed", "count": 3, "message": "pull", "lastTimestamp": "2026-01-02T00:00:00Z"},
              {"type": "Normal", "reason": "Scheduled", "message": "ok", "lastTimestamp": "2026-01-01T00:00:00Z"}]
    assert w.event_lines(events) == ["Normal Scheduled: ok", "Warning Failed (x3): pull"]
