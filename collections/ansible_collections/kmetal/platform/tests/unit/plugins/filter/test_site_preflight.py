# -*- coding: utf-8 -*-
"""Multi-site preflight: the etcd members (control plane and witnesses) spread across sites so that none holds a
quorum, and a control plane on two sites has a witness in a third (pure logic, no hosts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[7]))  # .../collections (for ansible_collections.*)

from ansible_collections.kmetal.platform.plugins.filter.network_preflight import _control_plane, _sites  # noqa: E402


def check(control_plane, witnesses=(), sites=None):
    site = {"control_plane_count": len(control_plane), "control_plane_hosts": list(control_plane), "witness_hosts": list(witnesses),
            "host_sites": sites or {}}
    errors, warnings = [], []
    _control_plane(site, errors)
    _sites(site, errors, warnings)
    return errors, warnings


def test_one_site_needs_nothing_more():
    assert check(["cp1", "cp2", "cp3"]) == ([], [])


def test_three_sites_one_member_each():
    assert check(["cp1", "cp2", "cp3"], sites={"cp1": "a", "cp2": "b", "cp3": "c", "w1": "a"}) == ([], [])


def test_two_sites_with_a_witness_in_a_third():
    errors, _warnings = check(["cp1", "cp2"], ["w1"], {"cp1": "a", "cp2": "b", "w1": "cloud"})
    assert errors == []
    errors, _warnings = check(["cp1", "cp2", "cp3", "cp4"], ["w1"], {"cp1": "a", "cp2": "a", "cp3": "b", "cp4": "b", "w1": "cloud"})
    assert errors == []


@pytest.mark.parametrize("control_plane,witnesses,sites,words", [
    (["cp1", "cp2", "cp3"], [], {"cp1": "a", "cp2": "a", "cp3": "b"}, "site a holds 2 of the 3 etcd members, a quorum"),
    (["cp1", "cp2", "cp3"], [], {"cp1": "a", "cp2": "a", "cp3": "b"}, "the control plane spans two sites (a, b) with no witness in a third"),
    (["cp1", "cp2"], [], {"cp1": "a", "cp2": "b"}, "kmetal_control_plane has 2 hosts, an even number"),
    (["cp1", "cp2"], ["w1"], {"cp1": "a", "cp2": "b", "w1": "a"}, "w1: the witness is in site a, with control-plane hosts"),
    (["cp1", "cp2"], ["w1"], {"cp1": "a", "cp2": "b", "w1": "b"}, "site b holds 2 of the 3 etcd members"),
    (["cp1", "cp2"], ["w1"], {"cp1": "a", "cp2": "b"}, "w1: kmetal_site is not set"),
    (["cp1", "cp2", "cp3"], ["w1"], {"cp1": "a", "cp2": "b", "cp3": "c", "w1": "d"}, "3 hosts plus 1 witness(es) in kmetal_etcd_witness, an even"),
])
def test_refused(control_plane, witnesses, sites, words):
    errors, _warnings = check(control_plane, witnesses, sites)
    assert any(words in e for e in errors), errors


def test_a_control_plane_in_one_of_several_sites_is_a_warning():
    errors, warnings = check(["cp1"], [], {"cp1": "a", "worker1": "b"})
    assert errors == [] and "every control-plane host is in site a" in warnings[0]


from ansible_collections.kmetal.platform.plugins.filter.network_preflight import _gpus  # noqa: E402

GPU_FACTS = ["iommu 42", "group 0000:3b:00.0 0000:3b:00.0 0x030200", "group 0000:3b:00.0 0000:3b:00.1 0x040300",
             "group 0000:3b:00.0 0000:3a:00.0 0x060400"]


def gpus(host, site=None):
    errors, warnings = [], []
    _gpus(site or {}, dict({"name": "gpu-1"}, **host), errors, warnings)
    return errors, warnings


def test_a_gpu_whose_group_holds_only_listed_devices_and_bridges_passes():
    assert gpus({"gpus": ["0000:3b:00.0", "0000:3b:00.1"], "gpu_facts": GPU_FACTS}) == ([], [])


def test_a_gpu_sharing_its_iommu_group_is_refused():
    errors, _warnings = gpus({"gpus": ["0000:3b:00.0"], "gpu_facts": GPU_FACTS})
    assert "its IOMMU group also holds 0000:3b:00.1, which would go to vfio-pci with it" in errors[0]


def test_missing_device_and_missing_iommu():
    errors, _warnings = gpus({"gpus": ["0000:99:00.0"], "gpu_facts": ["iommu 3", "missing 0000:99:00.0"]})
    assert "0000:99:00.0: no such PCI device" in errors[0]
    errors, _warnings = gpus({"gpus": ["0000:3b:00.0"], "gpu_facts": ["iommu 0"]})
    assert "the kernel has no IOMMU groups" in errors[0] and "host_prep_iommu: true" in errors[0]


def test_hardware_checks_skipped_with_the_reason_where_they_cannot_run():
    errors, warnings = gpus({"gpus": ["0000:3b:00.0"], "gpu_facts": ["iommu 0"], "virtualization_role": "guest",
                             "virtualization_type": "systemd-nspawn"})
    assert errors == [] and "GPU passthrough checks skipped: it is a container (systemd-nspawn)" in warnings[0]
    errors, warnings = gpus({"gpus": ["0000:3b:00.0"], "gpu_facts": ["iommu 0"]}, {"allow_missing_kvm": True})
    assert errors == [] and "GPU checks skipped: preflight_allow_missing_kvm" in warnings[0]
