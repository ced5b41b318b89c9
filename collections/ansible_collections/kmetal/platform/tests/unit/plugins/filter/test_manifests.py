# -*- coding: utf-8 -*-
"""dry_run_objects: what only the checked pieces add, ready for a server-side dry-run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[7]))  # .../collections (for ansible_collections.*)

from ansible_collections.kmetal.platform.plugins.filter.manifests import dry_run_objects


def test_only_the_extra_objects_without_crds_and_namespaces_and_in_an_existing_namespace():
    shared = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "rel"}}
    deployed = [shared]
    everything = [shared,
                  {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.y"}},
                  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubevirt"}},
                  {"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": {"name": "kubevirt", "namespace": "kubevirt"}},
                  {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ovs", "namespace": "kube-system"}}]
    out = dry_run_objects(everything, deployed, "rel")
    assert [(o["kind"], o["metadata"]["namespace"]) for o in out] == [("KubeVirt", "rel"), ("DaemonSet", "kube-system")]
    assert everything[3]["metadata"]["namespace"] == "kubevirt"  # the input is not changed
