# -*- coding: utf-8 -*-
"""A table of broken inventories, each with the message preflight must give (pure logic, no hosts)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[7]))  # .../collections (for ansible_collections.*)

from ansible_collections.kmetal.platform.plugins.filter.network_preflight import preflight_problems  # noqa: E402

SITE = {
    "networking_mode": "overlay",
    "flannel_pod_cidr": "10.93.0.0/16",
    "service_cidr": "10.96.0.0/16",
    "kube_ovn_pod_cidr": "10.16.0.0/16",
    "kube_ovn_join_cidr": "100.64.0.0/16",
    "tunnel_interface": "data0",
    "tunnel_type": "geneve",
    "tenant_mtu": 9100,
    "underlay_mtu": 9200,
    "metallb_pools": [{"name": "tenant-cp-pool", "addresses": ["198.18.1.200-198.18.1.250"]}],
    "metallb_l2_interfaces": ["mgmt0"],
    "provider_network": {"name": "provider", "interface": "data1", "vlan_id": 300, "cidr": "203.0.113.0/24", "gateway": "203.0.113.1"},
    "control_plane_endpoint": {"address": "198.18.1.10", "port": 6443, "interface": "mgmt0"},
    "control_plane_count": 1,
    "supported_os": [{"distribution": "Debian", "major_versions": ["12", "13"]}],
    "allow_missing_kvm": False,
    "tenants": [],
}
HOST = {
    "name": "lab-1",
    "control_plane": True,
    "interfaces": ["lo", "mgmt0", "data0", "data1"],
    "mtus": {"mgmt0": 1500, "data0": 9216, "data1": 9216},
    "profiles": [
        {"name": "mgmt0", "addresses": ["198.18.1.11/24"]},
        {"name": "data0", "mtu": 9216, "addresses": ["198.19.0.11/24"]},
    ],
    "kvm": {"device": True, "cpu_flags": True},
    "distribution": "Debian",
    "distribution_major_version": "12",
}


def run(site_changes=None, host_changes=None, hosts=None):
    site = copy.deepcopy(SITE)
    site.update(site_changes or {})
    host = copy.deepcopy(HOST)
    host.update(host_changes or {})
    return preflight_problems(site, hosts if hosts is not None else [host])


def test_a_good_site_has_no_problem():
    assert run() == {"errors": [], "warnings": []}


BROKEN = [
    ("pod overlaps service", {"kube_ovn_pod_cidr": "10.96.128.0/17"}, None,
     "kmetal_service_cidr 10.96.0.0/16 overlaps kmetal_kube_ovn_pod_cidr 10.96.128.0/17"),
    ("flannel overlaps join", {"kmetal_x": 1, "flannel_pod_cidr": "100.64.0.0/10"}, None,
     "kmetal_flannel_pod_cidr 100.64.0.0/10 overlaps kmetal_kube_ovn_join_cidr 100.64.0.0/16"),
    ("metallb overlaps pods", {"metallb_pools": [{"name": "p", "addresses": ["10.16.5.0/24"]}]}, None,
     "kmetal_kube_ovn_pod_cidr 10.16.0.0/16 overlaps MetalLB pool p 10.16.5.0/24"),
    ("metallb range overlaps provider", {"metallb_pools": [{"name": "p", "addresses": ["203.0.113.10-203.0.113.20"]}]}, None,
     "MetalLB pool p 203.0.113.10-203.0.113.20 overlaps kmetal_provider_network.cidr 203.0.113.0/24"),
    ("tenant VIP pool inside the platform CIDRs", {"platform_cidrs": ["198.18.1.0/24"]}, None,
     "kmetal_metallb_pools[0] (tenant-cp-pool) 198.18.1.200-198.18.1.250 lies in kmetal_platform_cidrs[0] 198.18.1.0/24"),
    ("tenant VIP in no pool", {"tenants": [{"name": "acme", "clusters": [{"name": "prod", "control_plane": {"service_address": "198.18.2.9"}}]}]},
     None, "kmetal_tenants acme cluster prod: control_plane.service_address 198.18.2.9 is in no kmetal_metallb_pools pool"),
    ("provider overlaps service", {"provider_network": {"interface": "data1", "vlan_id": 300, "cidr": "10.96.10.0/24"}}, None,
     "kmetal_service_cidr 10.96.0.0/16 overlaps kmetal_provider_network.cidr 10.96.10.0/24"),
    ("bad cidr", {"service_cidr": "10.96.0.0/33"}, None, "kmetal_service_cidr: '10.96.0.0/33' is not a CIDR"),
    ("host bits", {"service_cidr": "10.96.0.1/16"}, None, "kmetal_service_cidr: 10.96.0.1/16 has host bits set; write it as 10.96.0.0/16"),
    ("missing cidr", {"service_cidr": None}, None, "kmetal_service_cidr is not set"),
    ("gateway outside provider", {"provider_network": {"interface": "data1", "vlan_id": 300, "cidr": "203.0.113.0/24", "gateway": "203.0.114.1"}}, None,
     "kmetal_provider_network.gateway 203.0.114.1 is outside kmetal_provider_network.cidr 203.0.113.0/24"),
    ("geneve mtu", {"underlay_mtu": 9150}, None,
     "MTU: kmetal_underlay_mtu 9150 cannot carry kmetal_tenant_mtu 9100 over geneve (100 bytes of encapsulation): "
     "raise kmetal_underlay_mtu to 9200 or lower kmetal_tenant_mtu to 9050"),
    ("mtu not a number", {"tenant_mtu": "big"}, None, "kmetal_tenant_mtu 'big' must be an integer from 1280 to 9216"),
    ("unknown tunnel", {"tunnel_type": "gre"}, None, "kmetal_tunnel_type 'gre' is not supported"),
    ("no tunnel interface", {"tunnel_interface": None}, None, "kmetal_tunnel_interface is not set"),
    ("vlan out of range", {"provider_network": {"interface": "data1", "vlan_id": 4095, "cidr": "203.0.113.0/24"}}, None,
     "kmetal_provider_network.vlan_id 4095 is outside the VLAN range 1..4094"),
    ("vlan zero", {"provider_network": {"interface": "data1", "vlan_id": 0, "cidr": "203.0.113.0/24"}}, None,
     "kmetal_provider_network.vlan_id 0 is outside the VLAN range 1..4094"),
    ("vlan reused by a tenant", {"tenants": [{"name": "acme", "subnets": [{"name": "acme-vlan", "cidr": "10.200.0.0/24", "vlan": {"id": 300}}]}]}, None,
     "kmetal_tenants[0] (acme).subnets[0].vlan.id 300 is already used by kmetal_provider_network.vlan_id"),
    ("vlan shared by two tenants", {"tenants": [
        {"name": "acme", "subnets": [{"name": "a", "cidr": "10.200.0.0/24", "vlan": {"id": 310}}]},
        {"name": "globex", "subnets": [{"name": "g", "cidr": "10.200.0.0/24", "vlan": {"id": 310}}]}]}, None,
     "kmetal_tenants[1] (globex).subnets[0].vlan.id 310 is already used by kmetal_tenants[0] (acme).subnets[0].vlan.id"),
    ("host vlan reuses provider vlan", None,
     {"profiles": HOST["profiles"] + [{"name": "data1.300", "type": "vlan", "vlan": {"parent": "data1", "id": 300}}, {"name": "data1"}]},
     "lab-1: host VLAN interface data1.300 reuses VLAN 300 of kmetal_provider_network"),
    ("host vlan id out of range", None,
     {"profiles": HOST["profiles"] + [{"name": "data1.5000", "type": "vlan", "vlan": {"parent": "data1", "id": 5000}}, {"name": "data1"}]},
     "lab-1: host_network_profiles[2] (data1.5000): vlan.id 5000 is outside the VLAN range 1..4094"),
    ("nic missing for tunnel", {"tunnel_interface": "data.205"}, None,
     "lab-1: kmetal_tunnel_interface names NIC data.205, which the host lacks and no host_network profile creates"),
    ("nic missing for a profile", None, {"interfaces": ["lo", "mgmt0", "data1"]},
     "lab-1: NIC data0 (host_network_profiles) is missing on the host"),
    ("l2 interface missing", {"metallb_l2_interfaces": ["bond0"]}, None,
     "lab-1: kmetal_metallb_l2_interfaces[0] names NIC bond0, which the host lacks"),
    ("tunnel nic mtu too low", None, {"profiles": [{"name": "data0", "mtu": 1500}]},
     "lab-1: MTU of the overlay transport data0 is 1500, below kmetal_underlay_mtu 9200"),
    ("no kvm", None, {"kvm": {"device": False, "cpu_flags": False}},
     "lab-1: KVM is unusable: /dev/kvm is missing (the CPU advertises no vmx/svm flag (no hardware virtualization exposed))"),
    ("even control plane", {"control_plane_count": 2}, None,
     "kmetal_control_plane has 2 hosts, an even number: etcd needs an odd count for quorum (1, 3 or 5)"),
    ("no control plane", {"control_plane_count": 0}, None, "kmetal_control_plane has no hosts"),
    ("unsupported os", None, {"distribution": "CentOS", "distribution_major_version": "7"},
     "lab-1: operating system CentOS 7 is not supported (kmetal_supported_os: Debian 12/13)"),
    ("old debian", None, {"distribution_major_version": "11"}, "lab-1: operating system Debian 11 is not supported"),
    ("node subnet overlaps pods", None, {"profiles": [{"name": "data0", "mtu": 9216, "addresses": ["10.16.0.5/24"]}]},
     "lab-1: address 10.16.0.5/24 of data0 overlaps kmetal_kube_ovn_pod_cidr 10.16.0.0/16"),
    ("node address inside a metallb pool", None, {"profiles": [{"name": "mgmt0", "addresses": ["198.18.1.210/24"]}]},
     "lab-1: address 198.18.1.210/24 of mgmt0 lies inside MetalLB pool tenant-cp-pool"),
    ("bad profile", None, {"profiles": [{"name": "data0", "type": "bond", "mtu": 9216}]},
     "lab-1: host_network_profiles[0] (data0): the bond has no ports; set controller: data0 on its ethernet profiles"),
]


@pytest.mark.parametrize("site_changes,host_changes,expected", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_inventory_gives_its_message(site_changes, host_changes, expected):
    errors = run(site_changes, host_changes)["errors"]
    assert any(expected in e for e in errors), "\n".join(errors)


def test_every_problem_is_reported_at_once():
    errors = run(
        {"underlay_mtu": 9150, "service_cidr": "10.16.0.0/16", "control_plane_count": 2},
        {"distribution": "CentOS", "kvm": {"device": False, "cpu_flags": False}},
    )["errors"]
    assert len(errors) == 5, errors


def test_missing_kvm_is_a_warning_with_the_lab_opt_out():
    result = run({"allow_missing_kvm": True}, {"kvm": {"device": False, "cpu_flags": False}})
    assert result["errors"] == []
    assert "accepted: preflight_allow_missing_kvm is true, for labs only" in result["warnings"][0]


def test_kvm_without_cpu_flags_is_a_warning():
    result = run(None, {"kvm": {"device": True, "cpu_flags": False}})
    assert result["errors"] == [] and "paravirtualized or nested" in result["warnings"][0]


def test_a_metallb_pool_inside_the_node_subnet_is_fine():
    assert run()["errors"] == []


def test_vlan_mode_needs_no_tunnel():
    assert run({"networking_mode": "vlan", "tunnel_interface": None, "underlay_mtu": 1500, "tenant_mtu": 1500})["errors"] == []


def test_each_host_is_checked():
    other = copy.deepcopy(HOST)
    other.update(name="lab-2", interfaces=["lo", "mgmt0"], control_plane=False)
    errors = run(hosts=[copy.deepcopy(HOST), other])["errors"]
    assert errors and all(e.startswith("lab-2: ") for e in errors), errors
    assert "lab-2: NIC data0 (host_network_profiles) is missing on the host; it has lo, mgmt0" in errors
