# -*- coding: utf-8 -*-
"""Interface profiles: validation of the whole list and the three renderers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[7]))

from ansible.errors import AnsibleFilterError  # noqa: E402
from ansible_collections.kmetal.platform.plugins.filter import network_profiles as np  # noqa: E402

FULL = [
    {"name": "data0", "mtu": 9216, "controller": "bond0"},
    {"name": "data1", "mtu": 9216, "controller": "bond0"},
    {"name": "bond0", "type": "bond", "mtu": 9216, "bond": {"mode": "802.3ad", "miimon": 100, "xmit_hash_policy": "layer3+4", "lacp_rate": "fast"}},
    {"name": "data.205", "type": "vlan", "mtu": 9200, "vlan": {"parent": "bond0", "id": 205}, "addresses": ["198.19.5.11/24"],
     "routes": [{"to": "198.19.0.0/16", "via": "198.19.5.1", "metric": 100}]},
    {"name": "br-ex", "type": "bridge", "mtu": 9100, "addresses": ["198.19.9.11/24"]},
    {"name": "data.300", "type": "vlan", "vlan": {"parent": "bond0", "id": 300}, "controller": "br-ex", "mtu": 9100},
]


def test_a_full_list_is_valid():
    assert np.validate_profiles(FULL) == []


@pytest.mark.parametrize("profiles,expected", [
    ([{"name": "a"}, {"name": "a"}], "the name is already used by host_network_profiles[0]"),
    ([{"name": "eth0", "type": "wifi"}], "type 'wifi' is not one of ethernet, bond, vlan, bridge"),
    ([{"name": "eth0", "mtu": 10000}], "mtu 10000 must be an integer from 576 to 9216"),
    ([{"name": "eth0", "speed": 1}], "unknown field(s) speed"),
    ([{"name": "eth0", "controller": "bond9"}], "controller bond9 has no profile"),
    ([{"name": "eth0", "controller": "eth1"}, {"name": "eth1"}], "controller eth1 is a ethernet; a controller must be a bond or a bridge"),
    ([{"name": "eth0", "controller": "b", "addresses": ["198.18.0.2/24"]}, {"name": "b", "type": "bond"}], "a port of b carries no addresses"),
    ([{"name": "eth0", "controller": "b", "mtu": 1500}, {"name": "b", "type": "bond", "mtu": 9000}], "mtu 1500 is below the mtu 9000 of its controller b"),
    ([{"name": "b", "type": "bond", "bond": {"mode": "lacp"}}, {"name": "e", "controller": "b"}], "bond.mode 'lacp' is not one of"),
    ([{"name": "b", "type": "bond", "bond": {"mode": "active-backup", "lacp_rate": "fast"}}, {"name": "e", "controller": "b"}],
     "bond.lacp_rate applies to mode 802.3ad only, not active-backup"),
    ([{"name": "b", "type": "bond", "bond": {"mode": "active-backup", "xmit_hash_policy": "layer3+4"}}, {"name": "e", "controller": "b"}],
     "bond.xmit_hash_policy applies to modes 802.3ad"),
    ([{"name": "b", "type": "bond"}], "the bond has no ports"),
    ([{"name": "v", "type": "vlan", "vlan": {"id": 5}}], "vlan.parent is required"),
    ([{"name": "v", "type": "vlan", "vlan": {"parent": "e", "id": 5}}], "vlan.parent e has no profile"),
    ([{"name": "e"}, {"name": "v", "type": "vlan", "vlan": {"parent": "e", "id": 4095}}], "vlan.id 4095 is outside the VLAN range 1..4094"),
    ([{"name": "e"}, {"name": "v", "type": "vlan", "vlan": {"parent": "e", "id": 5}}, {"name": "w", "type": "vlan", "vlan": {"parent": "e", "id": 5}}],
     "VLAN 5 on e is already used by v"),
    ([{"name": "e", "mtu": 1500}, {"name": "v", "type": "vlan", "mtu": 9000, "vlan": {"parent": "e", "id": 5}}],
     "mtu 9000 is above the mtu 1500 of its parent e"),
    ([{"name": "e", "addresses": ["198.18.0.5"]}], "addresses[0] '198.18.0.5' is not an address with a prefix length"),
    ([{"name": "e", "addresses": ["198.18.0.0/24"]}], "is the network or broadcast address"),
    ([{"name": "e", "addresses": ["198.18.0.5/24"]}, {"name": "f", "addresses": ["198.18.0.5/24"]}], "198.18.0.5 is already on e"),
    ([{"name": "e", "addresses": ["198.18.0.5/24"], "routes": [{"to": "default", "via": "198.19.0.1"}]}], "routes[0].via 198.19.0.1 is not in any subnet"),
    ([{"name": "e", "routes": [{"via": "198.19.0.1"}]}], "routes[0] needs to:"),
    ([{"name": "e", "vlan": {"id": 3}}], "field vlan only applies to type vlan"),
    ([{"name": "a-very-long-interface"}], "at most 15 characters"),
    ("eth0", "must be a list of interface profiles"),
])
def test_invalid_lists(profiles, expected):
    problems = np.validate_profiles(profiles)
    assert any(expected in p for p in problems), problems


def test_every_problem_at_once():
    problems = np.validate_profiles([{"name": "e", "mtu": 1}, {"name": "v", "type": "vlan", "vlan": {"parent": "x", "id": 0}}])
    assert len(problems) == 3, problems


def test_render_refuses_invalid_input_with_every_problem():
    with pytest.raises(AnsibleFilterError, match="(?s)host_network_profiles are invalid.*mtu 1 .*vlan.id 0"):
        np.host_network_render([{"name": "e", "mtu": 1}, {"name": "v", "type": "vlan", "vlan": {"parent": "e", "id": 0}}])


def test_networkd_rendering():
    files = np.host_network_render(FULL, "networkd")
    assert sorted(files) == [
        "50-kmetal-bond0.netdev", "50-kmetal-bond0.network", "50-kmetal-br-ex.netdev", "50-kmetal-br-ex.network",
        "50-kmetal-data.205.netdev", "50-kmetal-data.205.network", "50-kmetal-data.300.netdev", "50-kmetal-data.300.network",
        "50-kmetal-data0.network", "50-kmetal-data1.network",
    ]
    bond = files["50-kmetal-bond0.netdev"]
    assert "Kind=bond" in bond and "Mode=802.3ad" in bond and "TransmitHashPolicy=layer3+4" in bond and "LACPTransmitRate=fast" in bond
    assert "MIIMonitorSec=100ms" in bond and "MTUBytes=9216" in bond
    assert "VLAN=data.205" in files["50-kmetal-bond0.network"] and "VLAN=data.300" in files["50-kmetal-bond0.network"]
    assert "Bond=bond0" in files["50-kmetal-data0.network"] and "MTUBytes=9216" in files["50-kmetal-data0.network"]
    assert "[VLAN]\nId=205" in files["50-kmetal-data.205.netdev"]
    vlan = files["50-kmetal-data.205.network"]
    assert "Address=198.19.5.11/24" in vlan and "Destination=198.19.0.0/16\nGateway=198.19.5.1\nMetric=100" in vlan
    assert "Bridge=br-ex" in files["50-kmetal-data.300.network"]


def test_networkmanager_rendering():
    files = np.host_network_render(FULL, "networkmanager")
    port = files["kmetal-data0.nmconnection"]
    assert "type=ethernet" in port and "master=bond0" in port and "slave-type=bond" in port and "[ipv4]" not in port
    bond = files["kmetal-bond0.nmconnection"]
    assert "mode=802.3ad" in bond and "xmit_hash_policy=layer3+4" in bond and "lacp_rate=fast" in bond and "method=disabled" in bond
    vlan = files["kmetal-data.205.nmconnection"]
    assert "[vlan]\nid=205\nparent=bond0" in vlan and "address1=198.19.5.11/24" in vlan and "route1=198.19.0.0/16,198.19.5.1,100" in vlan
    # Stable UUIDs: re-rendering gives the same files (idempotence).
    assert files == np.host_network_render(FULL, "networkmanager")


def test_netplan_rendering():
    net = np.host_network_render(FULL, "netplan")["60-kmetal.yaml"]["network"]
    assert net["bonds"]["bond0"]["interfaces"] == ["data0", "data1"]
    assert net["bonds"]["bond0"]["parameters"] == {"mode": "802.3ad", "mii-monitor-interval": 100, "transmit-hash-policy": "layer3+4", "lacp-rate": "fast"}
    assert net["vlans"]["data.205"]["id"] == 205 and net["vlans"]["data.205"]["link"] == "bond0"
    assert net["vlans"]["data.205"]["routes"] == [{"to": "198.19.0.0/16", "via": "198.19.5.1", "metric": 100}]
    assert net["bridges"]["br-ex"]["interfaces"] == ["data.300"]
    assert net["ethernets"]["data0"]["mtu"] == 9216


def test_unknown_renderer():
    with pytest.raises(AnsibleFilterError, match="host_network_renderer 'ifupdown' is not one of"):
        np.host_network_render([{"name": "e"}], "ifupdown")


def test_split_defers_what_rides_on_a_missing_feature():
    split = np.host_network_split(FULL, ["bonding", "8021q"])
    assert [p["name"] for p in split["apply"]] == ["br-ex"]
    assert {p["name"] for p in split["deferred"]} == {"data0", "data1", "bond0", "data.205", "data.300"}
    assert np.host_network_split(FULL, [])["deferred"] == []


def test_features_and_addresses():
    assert np.host_network_features(FULL) == {"bonding": ["bond0"], "8021q": ["data.205", "data.300"], "bridge": ["br-ex"]}
    assert np.host_network_addresses(FULL, "data.205") == ["198.19.5.11"]
    assert np.host_network_addresses(FULL, "nope") == []


def test_compare_with_the_live_state():
    ip_addr = [
        {"ifname": "data0", "mtu": 9100, "addr_info": [{"family": "inet", "local": "198.19.0.11", "prefixlen": 24}]},
        {"ifname": "data1", "mtu": 1500, "master": "br-ex", "addr_info": []},
        {"ifname": "br-ex", "mtu": 9100, "linkinfo": {"info_kind": "bridge"}, "addr_info": []},
    ]
    ip_route = [{"dst": "198.19.128.0/24", "gateway": "198.19.0.1", "dev": "data0", "metric": 200}]
    profiles = [
        {"name": "data0", "mtu": 9100, "addresses": ["198.19.0.11/24"], "routes": [{"to": "198.19.128.0/24", "via": "198.19.0.1", "metric": 200}]},
        {"name": "data1", "mtu": 9100, "controller": "br-ex"},
        {"name": "br-ex", "type": "bridge", "mtu": 9100, "addresses": ["198.19.2.11/24"], "routes": [{"to": "default", "via": "198.19.2.1"}]},
        {"name": "bond0", "type": "bond"},
    ]
    assert np.host_network_compare(profiles, ip_addr, ip_route) == [
        "data1: MTU is 1500, the profile says 9100",
        "br-ex: address 198.19.2.11/24 is missing (it has none)",
        "br-ex: route to default via 198.19.2.1 is missing",
        "bond0: the interface does not exist",
    ]
    assert np.host_network_compare(profiles[:1], ip_addr, ip_route) == []
