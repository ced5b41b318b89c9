# -*- coding: utf-8 -*-
"""Pure logic of the tenant cluster's lifecycle: sleep and wake settled against the live Cluster, the version guard."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.kmetal.platform.plugins.module_utils import _lifecycle
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import FIELD_MANAGER, KmetalError


def cluster(version="v1.34.1", replicas=None, wake=None, owned=False):
    obj = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "dev", "namespace": "tenant-acme"},
           "spec": {"topology": {"version": version}}}
    if replicas is not None:
        obj["spec"]["topology"]["controlPlane"] = {"replicas": replicas}
    if wake is not None:
        obj["metadata"]["annotations"] = {_lifecycle.WAKE_REPLICAS: str(wake)}
    if owned:
        obj["metadata"]["managedFields"] = [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {
            "f:spec": {"f:topology": {"f:controlPlane": {"f:replicas": {}}}}}}]
    return obj


def settled(params, live, desired=None):
    desired = copy.deepcopy(desired or cluster(version=params.get("version", "v1.34.1")))
    if (params.get("control_plane") or {}).get("replicas") is not None:
        desired["spec"]["topology"]["controlPlane"] = {"replicas": params["control_plane"]["replicas"]}
    _lifecycle.settle(desired, live, params)
    return desired


def test_sleep_keeps_the_running_count_and_wake_restores_it():
    asleep = settled({"sleep": True}, cluster(replicas=3))
    assert asleep["spec"]["topology"]["controlPlane"] == {"replicas": 0}
    assert asleep["metadata"]["annotations"] == {_lifecycle.WAKE_REPLICAS: "3"}
    kept = settled({}, cluster(replicas=0, wake=3))  # no option: stays asleep, the count kept
    assert kept == asleep
    woke = settled({"sleep": False}, cluster(replicas=0, wake=3))
    assert woke["spec"]["topology"]["controlPlane"] == {"replicas": 3} and "annotations" not in woke["metadata"]
    assert settled({"sleep": False, "control_plane": {"replicas": 2}}, cluster(replicas=0, wake=3))["spec"]["topology"]["controlPlane"] == {"replicas": 2}
    # after a wake, a run that names no count keeps the one this collection wrote
    assert settled({}, cluster(replicas=3, owned=True))["spec"]["topology"]["controlPlane"] == {"replicas": 3}
    assert "controlPlane" not in settled({}, cluster(replicas=3))["spec"]["topology"]  # someone else's count: not taken over


def test_wake_without_a_kept_count_is_refused():
    with pytest.raises(KmetalError, match="keeps no replica count to wake to"):
        settled({"sleep": False}, cluster(replicas=0))


@pytest.mark.parametrize("target,live,words", [
    ("v1.35.0", cluster(replicas=0, wake=2), "wake it first"),
    ("v1.33.9", cluster(), "never downgraded"),
    ("v1.36.0", cluster(), "skips a minor version from v1.34.1"),
    ("v2.0.0", cluster(), "skips a minor version"),
    ("v1.35.9", cluster(), "is not in available_versions"),
])
def test_version_guard_refuses(target, live, words):
    with pytest.raises(KmetalError, match=words):
        settled({"version": target, "available_versions": ["v1.34.1", "v1.35.0", "v1.36.0", "v2.0.0", "v1.33.9"]}, live)


def test_version_guard_allows_the_next_minor_a_patch_and_a_new_cluster_of_a_listed_version():
    for target in ("v1.35.0", "v1.34.2"):
        settled({"version": target, "available_versions": ["v1.34.2", "v1.35.0"]}, cluster())
    settled({"version": "v1.35.0", "available_versions": ["v1.35.0"]}, None)
    with pytest.raises(KmetalError, match="not in available_versions"):
        settled({"version": "v1.36.0", "available_versions": ["v1.35.0"]}, None)


def test_manifest_versions_are_the_tenant_image_sources():
    manifest = {"images": [{"ref": "r/kube-apiserver:v1.34.1", "source": "runtime:kamaji-tenant v1.34.1"},
                           {"ref": "r/kube-apiserver:v1.34.4", "source": "kubeadm"},
                           {"ref": "r/coredns:v1.12.1", "source": "runtime:kamaji-tenant v1.35.0"}]}
    assert _lifecycle.manifest_versions(manifest) == {"v1.34.1", "v1.35.0"}
    assert _lifecycle.manifest_versions({}) == set()


def test_control_plane_reports():
    assert _lifecycle.asleep({"status": "Sleeping", "replicas": 0, "ready_replicas": 0})
    assert _lifecycle.asleep({"status": None, "replicas": 0, "ready_replicas": None})
    assert not _lifecycle.asleep({"status": "Ready", "replicas": 2, "ready_replicas": 2}) and not _lifecycle.asleep(None)
    assert _lifecycle.runs_version({"version": "v1.35.0", "status": "Ready", "ready_replicas": 2}, "v1.35.0")
    assert not _lifecycle.runs_version({"version": "v1.35.0", "status": "Upgrading", "ready_replicas": 2}, "v1.35.0")
    assert not _lifecycle.runs_version({"version": "v1.34.1", "status": "Ready", "ready_replicas": 2}, "v1.35.0")


def test_a_tenant_version_sharing_its_images_with_the_under_cluster_is_still_held():
    # the under cluster runs v1.34.4 too: its images keep the kubeadm source, the manifest lists the version itself
    manifest = {"images": [{"ref": "registry.k8s.io/kube-apiserver:v1.34.4", "source": "kubeadm"}], "tenant_versions": ["v1.34.4"]}
    assert _lifecycle.manifest_versions(manifest) == {"v1.34.4"}
