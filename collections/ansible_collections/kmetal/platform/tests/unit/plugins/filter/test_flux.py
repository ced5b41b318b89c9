# -*- coding: utf-8 -*-
"""flux_chart_ref and flux_release_state: where the chart is pushed, and when the HelmRelease applied the request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[7]))  # .../collections (for ansible_collections.*)

from ansible.errors import AnsibleFilterError
from ansible_collections.kmetal.platform.plugins.filter.flux import flux_chart_ref, flux_chart_revision, flux_release_state


def test_chart_ref_splits_the_url_and_writes_plus_as_underscore():
    assert flux_chart_ref("oci://198.18.0.1:5000/kmetal/charts/kmetal", "0.1.0+0123456789ab") == {
        "repository": "oci://198.18.0.1:5000/kmetal/charts", "chart": "kmetal", "tag": "0.1.0_0123456789ab",
        "registry": "198.18.0.1:5000"}


@pytest.mark.parametrize("url", ["https://registry.example.com/kmetal", "oci://registry.example.com", "", None])
def test_chart_ref_refuses_what_is_not_an_oci_chart_url(url):
    with pytest.raises(AnsibleFilterError, match="oci://<registry>/<path>/<chart>"):
        flux_chart_ref(url, "0.1.0")


def release(generation=2, observed=2, handled="kmetal-aa", ready="True", version="0.1.0+ab", status="deployed", stalled=None):
    conditions = [{"type": "Ready", "status": ready, "reason": "UpgradeSucceeded" if ready == "True" else "UpgradeFailed",
                   "message": "m"}]
    if stalled:
        conditions.append({"type": "Stalled", "status": stalled})
    return {"metadata": {"generation": generation, "annotations": {"reconcile.fluxcd.io/requestedAt": "kmetal-aa"}},
            "status": {"observedGeneration": observed, "lastHandledReconcileAt": handled, "conditions": conditions,
                       "history": [{"version": 5, "chartVersion": version, "status": status}]}}


def test_done_when_ready_at_the_version_with_the_request_handled():
    state = flux_release_state(release(), "0.1.0+ab", "kmetal-aa")
    assert state == {"done": True, "failed": False, "message": "Ready at 0.1.0+ab (helm revision 5)"}


@pytest.mark.parametrize("obj, says", [
    (release(observed=1), "generation 2 not observed"),
    (release(handled="kmetal-old"), "request kmetal-aa not handled"),
    (release(version="0.1.0+old"), "wanted deployed at 0.1.0+ab"),
    (release(status="pending-upgrade"), "newest release pending-upgrade"),
    (release(ready="False"), "Ready False (UpgradeFailed: m)"),
])
def test_waits_while_anything_is_behind(obj, says):
    state = flux_release_state(obj, "0.1.0+ab", "kmetal-aa")
    assert not state["done"] and not state["failed"] and says in state["message"], state


def test_without_a_request_the_last_handled_one_does_not_matter():
    assert flux_release_state(release(handled=None), "0.1.0+ab", "")["done"]


def test_stalled_on_this_request_fails_but_a_stall_from_before_the_request_does_not():
    assert flux_release_state(release(ready="False", stalled="True"), "0.1.0+ab", "kmetal-aa")["failed"]
    assert not flux_release_state(release(ready="False", stalled="True", handled="kmetal-old"), "0.1.0+ab", "kmetal-aa")["failed"]


def test_a_missing_helmrelease_is_waited_for():
    assert flux_release_state({}, "0.1.0", "t") == {"done": False, "failed": False, "message": "the HelmRelease does not exist"}


def test_chart_revision_is_the_version_with_the_digest_as_build_metadata():
    digest = "sha256:f1ec905b062a599250359adca319f71c54d4fe6ad761158e3bfe2d16e8e7b775"
    assert flux_chart_revision("0.1.0+502534c1cc9c", digest) == "0.1.0+f1ec905b062a"
    assert flux_chart_revision("1.2.3-rc.1", digest) == "1.2.3-rc.1+f1ec905b062a"
    with pytest.raises(AnsibleFilterError, match="hex digest"):
        flux_chart_revision("0.1.0", "")
