# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Interface profiles of host_network: validation of the whole list and the three renderers (pure logic).

A profile: name, type (ethernet | bond | vlan | bridge), mtu, addresses (CIDRs), routes ({to, via, metric}),
controller (the bond or bridge an ethernet/bond/vlan is a port of), bond ({mode, miimon, xmit_hash_policy,
lacp_rate}), vlan ({parent, id}), bridge ({stp}).
"""

from __future__ import annotations

import uuid

from ansible.errors import AnsibleFilterError

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover
    HAS_NETADDR = False

TYPES = ("ethernet", "bond", "vlan", "bridge")
KEYS = {"name", "type", "mtu", "addresses", "routes", "controller", "bond", "vlan", "bridge"}
BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
HASH_POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac")
LACP_RATES = ("slow", "fast")
UUID_NS = uuid.UUID("5b0c6a52-8d55-4c1f-9a4e-0c1e6e6b6d10")
FILE_PREFIX = "kmetal"
# The kernel feature each virtual type needs (and how to see it is there).
KERNEL_FEATURES = {"bond": "bonding", "vlan": "8021q", "bridge": "bridge"}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def validate_profiles(profiles, where="host_network_profiles"):
    """Every problem of the list at once, as messages naming the profile, the field and the fix."""
    if not isinstance(profiles, list):
        return [f"{where} must be a list of interface profiles, got {type(profiles).__name__}"]
    errors = []
    names = _names(profiles, where, errors)
    vlan_keys, addresses = {}, {}  # taken (parent, VLAN id) and addresses, across the profiles
    for i, p in enumerate(profiles):
        if not isinstance(p, dict) or not p.get("name"):
            continue
        at = f"{where}[{i}] ({p['name']})"
        kind = p.get("type", "ethernet")
        if not _check_fields(p, kind, at, errors):
            continue
        _check_controller(p, kind, profiles, names, at, errors)
        if kind == "bond":
            _check_bond(p, profiles, at, errors)
        if kind == "vlan":
            _check_vlan(p, profiles, names, vlan_keys, at, errors)
        nets = _check_addresses(p, addresses, at, errors)
        _check_routes(p, nets, at, errors)
    _check_cycles(profiles, names, where, errors)
    return errors


def _names(profiles, where, errors):
    """{interface name: index}, with a problem for each profile without a name or with a name already used."""
    names = {}
    for i, p in enumerate(profiles):
        if not isinstance(p, dict) or not p.get("name"):
            errors.append(f"{where}[{i}]: every profile needs a name (the interface name)")
            continue
        if p["name"] in names:
            errors.append(f"{where}[{i}] ({p['name']}): the name is already used by {where}[{names[p['name']]}]; one profile per interface")
        else:
            names[p["name"]] = i
    return names


def _check_fields(p, kind, at, errors):
    """The profile's own fields: known keys, an interface name, a type, an MTU, the type's section only. False when
    the type is unknown (nothing else of the profile can be checked)."""
    name = p["name"]
    unknown = sorted(set(p) - KEYS)
    if unknown:
        errors.append(f"{at}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    if not isinstance(name, str) or len(name) > 15 or any(c in name for c in " /:"):
        errors.append(f"{at}: name must be an interface name of at most 15 characters without spaces, '/' or ':'")
    if kind not in TYPES:
        errors.append(f"{at}: type {kind!r} is not one of {', '.join(TYPES)}")
        return False
    mtu = p.get("mtu")
    if mtu is not None and (not _is_int(mtu) or not 576 <= mtu <= 9216):
        errors.append(f"{at}: mtu {mtu!r} must be an integer from 576 to 9216")
    for section in ("bond", "vlan", "bridge"):
        if section in p and kind != section:
            errors.append(f"{at}: field {section} only applies to type {section} (this profile is {kind})")
    return True


def _check_controller(p, kind, profiles, names, at, errors):
    """A port's controller: a bond or bridge with a profile, that can take this kind, carrying the addresses."""
    controller, mtu = p.get("controller"), p.get("mtu")
    if controller is None:
        return
    target = profiles[names[controller]] if controller in names else None
    if target is None:
        errors.append(f"{at}: controller {controller} has no profile; add a bond or bridge profile named {controller}")
    elif target.get("type") not in ("bond", "bridge"):
        errors.append(f"{at}: controller {controller} is a {target.get('type', 'ethernet')}; a controller must be a bond or a bridge")
    elif kind == "bridge" or (kind == "bond" and target.get("type") == "bond"):
        errors.append(f"{at}: a {kind} cannot be a port of {target.get('type')} {controller}")
    else:
        if p.get("addresses") or p.get("routes"):
            errors.append(f"{at}: a port of {controller} carries no addresses or routes; put them on {controller}")
        if _is_int(mtu) and _is_int(target.get("mtu")) and mtu < target["mtu"]:
            errors.append(f"{at}: mtu {mtu} is below the mtu {target['mtu']} of its controller {controller}; raise it to at least {target['mtu']}")


def _check_bond(p, profiles, at, errors):
    """A bond's mode and the options its mode takes, and at least one port."""
    bond = p.get("bond") or {}
    mode = bond.get("mode", "active-backup")
    if mode not in BOND_MODES:
        errors.append(f"{at}: bond.mode {mode!r} is not one of {', '.join(BOND_MODES)}")
    miimon = bond.get("miimon", 100)
    if not _is_int(miimon) or miimon < 0:
        errors.append(f"{at}: bond.miimon {miimon!r} must be a number of milliseconds (0 or more)")
    if "xmit_hash_policy" in bond:
        if bond["xmit_hash_policy"] not in HASH_POLICIES:
            errors.append(f"{at}: bond.xmit_hash_policy {bond['xmit_hash_policy']!r} is not one of {', '.join(HASH_POLICIES)}")
        elif mode not in ("802.3ad", "balance-xor", "balance-tlb", "balance-alb"):
            errors.append(f"{at}: bond.xmit_hash_policy applies to modes 802.3ad, balance-xor, balance-tlb and balance-alb, not {mode}")
    if "lacp_rate" in bond:
        if bond["lacp_rate"] not in LACP_RATES:
            errors.append(f"{at}: bond.lacp_rate {bond['lacp_rate']!r} is not one of slow, fast")
        elif mode != "802.3ad":
            errors.append(f"{at}: bond.lacp_rate applies to mode 802.3ad only, not {mode}")
    if not any(isinstance(q, dict) and q.get("controller") == p["name"] for q in profiles):
        errors.append(f"{at}: the bond has no ports; set controller: {p['name']} on its ethernet profiles")


def _check_vlan(p, profiles, names, vlan_keys, at, errors):
    """A VLAN's parent (with a profile, an MTU at least the VLAN's) and an id in range, once per parent."""
    vlan, mtu = p.get("vlan") or {}, p.get("mtu")
    parent, vid = vlan.get("parent"), vlan.get("id")
    if not parent:
        errors.append(f"{at}: vlan.parent is required (the NIC or bond the VLAN rides on)")
    elif parent not in names:
        errors.append(f"{at}: vlan.parent {parent} has no profile; add a profile for {parent}")
    else:
        parent_mtu = profiles[names[parent]].get("mtu")
        if _is_int(mtu) and _is_int(parent_mtu) and mtu > parent_mtu:
            errors.append(f"{at}: mtu {mtu} is above the mtu {parent_mtu} of its parent {parent}; lower it or raise the parent's")
    if not _is_int(vid) or not 1 <= vid <= 4094:
        errors.append(f"{at}: vlan.id {vid!r} is outside the VLAN range 1..4094")
    elif (parent, vid) in vlan_keys:
        errors.append(f"{at}: VLAN {vid} on {parent} is already used by {vlan_keys[(parent, vid)]}; one interface per VLAN and parent")
    else:
        vlan_keys[(parent, vid)] = p["name"]


def _check_addresses(p, addresses, at, errors):
    """The profile's addresses (each with a prefix length, a host address, on one interface only); returns their
    networks, for the routes' gateways."""
    nets = []
    for j, addr in enumerate(p.get("addresses") or []):
        try:
            ip = netaddr.IPNetwork(addr)
            if "/" not in str(addr):
                raise ValueError("no prefix length")
        except (netaddr.AddrFormatError, ValueError, TypeError):
            errors.append(f"{at}: addresses[{j}] {addr!r} is not an address with a prefix length (like 198.18.1.11/24)")
            continue
        if ip.version == 4 and ip.prefixlen < 31 and ip.ip in (ip.network, ip.broadcast):
            errors.append(f"{at}: addresses[{j}] {addr} is the network or broadcast address of its subnet")
        if str(ip.ip) in addresses:
            errors.append(f"{at}: addresses[{j}] {ip.ip} is already on {addresses[str(ip.ip)]}")
        addresses.setdefault(str(ip.ip), p["name"])
        nets.append(ip)
    return nets


def _check_routes(p, nets, at, errors):
    """Each route: a destination, a gateway in one of the interface's subnets, a non-negative metric."""
    for j, route in enumerate(p.get("routes") or []):
        if not isinstance(route, dict) or not route.get("to"):
            errors.append(f"{at}: routes[{j}] needs to: (a CIDR or 'default') and usually via:")
            continue
        if route["to"] != "default":
            try:
                netaddr.IPNetwork(route["to"])
            except (netaddr.AddrFormatError, ValueError, TypeError):
                errors.append(f"{at}: routes[{j}].to {route['to']!r} is not a CIDR or 'default'")
        via = route.get("via")
        if via:
            try:
                gw = netaddr.IPAddress(via)
            except (netaddr.AddrFormatError, ValueError, TypeError):
                errors.append(f"{at}: routes[{j}].via {via!r} is not an IP address")
                continue
            if nets and not any(gw in n for n in nets):
                errors.append(f"{at}: routes[{j}].via {via} is not in any subnet of the interface ({', '.join(str(n.cidr) for n in nets)})")
        if "metric" in route and (not _is_int(route["metric"]) or route["metric"] < 0):
            errors.append(f"{at}: routes[{j}].metric {route['metric']!r} must be a non-negative integer")


def _check_cycles(profiles, names, where, errors):
    """Cycles of controllers and parents (a bond in a bridge in the bond...)."""
    for p in profiles:
        if not isinstance(p, dict) or not p.get("name"):
            continue
        seen, cur = [], p
        while isinstance(cur, dict):
            link = cur.get("controller") or (cur.get("vlan") or {}).get("parent")
            if link is None or link not in names:
                break
            if link in seen or link == p["name"]:
                errors.append(f"{where} ({p['name']}): controllers/parents form a cycle through {link}")
                break
            seen.append(link)
            cur = profiles[names[link]]


def _check(profiles):
    if not HAS_NETADDR:
        raise AnsibleFilterError("kmetal.platform host_network filters need the netaddr Python library on the controller")
    problems = validate_profiles(profiles)
    if problems:
        raise AnsibleFilterError("host_network_profiles are invalid:\n- " + "\n- ".join(problems))


def _ordered(profiles):
    """Profiles in apply order: bridges and bonds, then ports and VLANs (parents before children)."""
    rank = {"bridge": 0, "bond": 1, "ethernet": 2, "vlan": 3}
    return sorted(profiles, key=lambda p: (rank[p.get("type", "ethernet")], p["name"]))


def _children(profiles, name):
    return [p["name"] for p in profiles if (p.get("vlan") or {}).get("parent") == name]


def _route_to(route):
    return "0.0.0.0/0" if route["to"] == "default" else route["to"]


# --- systemd-networkd ----------------------------------------------------------------------------------------

def _networkd(profiles):
    files = {}
    for p in _ordered(profiles):
        name, kind = p["name"], p.get("type", "ethernet")
        stem = f"50-{FILE_PREFIX}-{name}"
        if kind != "ethernet":
            lines = ["# Managed by kmetal.platform.host_network: changes are overwritten.", "[NetDev]", f"Name={name}", f"Kind={kind}"]
            if p.get("mtu"):
                lines.append(f"MTUBytes={p['mtu']}")
            if kind == "bond":
                bond = p.get("bond") or {}
                lines += ["", "[Bond]", f"Mode={bond.get('mode', 'active-backup')}", f"MIIMonitorSec={bond.get('miimon', 100)}ms"]
                if bond.get("xmit_hash_policy"):
                    lines.append(f"TransmitHashPolicy={bond['xmit_hash_policy']}")
                if bond.get("lacp_rate"):
                    lines.append(f"LACPTransmitRate={bond['lacp_rate']}")
            elif kind == "vlan":
                lines += ["", "[VLAN]", f"Id={p['vlan']['id']}"]
            elif kind == "bridge":
                lines += ["", "[Bridge]", f"STP={'yes' if (p.get('bridge') or {}).get('stp') else 'no'}"]
            files[f"{stem}.netdev"] = "\n".join(lines) + "\n"
        lines = ["# Managed by kmetal.platform.host_network: changes are overwritten.", "[Match]", f"Name={name}", ""]
        if p.get("mtu"):
            lines += ["[Link]", f"MTUBytes={p['mtu']}", ""]
        lines += ["[Network]", "LinkLocalAddressing=no", "IPv6AcceptRA=no", "ConfigureWithoutCarrier=yes"]
        if p.get("controller"):
            controller_type = next(q.get("type") for q in profiles if q["name"] == p["controller"])
            lines.append(f"{'Bond' if controller_type == 'bond' else 'Bridge'}={p['controller']}")
        for child in _children(profiles, name):
            lines.append(f"VLAN={child}")
        for addr in p.get("addresses") or []:
            lines.append(f"Address={addr}")
        for route in p.get("routes") or []:
            lines += ["", "[Route]", f"Destination={_route_to(route)}"]
            if route.get("via"):
                lines.append(f"Gateway={route['via']}")
            if "metric" in route:
                lines.append(f"Metric={route['metric']}")
        files[f"{stem}.network"] = "\n".join(lines) + "\n"
    return files


# --- NetworkManager keyfiles ---------------------------------------------------------------------------------

def _nm(profiles):
    files = {}
    by_name = {p["name"]: p for p in profiles}
    for p in _ordered(profiles):
        name, kind = p["name"], p.get("type", "ethernet")
        conn_id = f"{FILE_PREFIX}-{name}"
        lines = [
            "# Managed by kmetal.platform.host_network: changes are overwritten.",
            "[connection]",
            f"id={conn_id}",
            f"uuid={uuid.uuid5(UUID_NS, conn_id)}",
            f"type={kind}",
            f"interface-name={name}",
            "autoconnect=true",
        ]
        if p.get("controller"):
            lines += [f"master={p['controller']}", f"slave-type={by_name[p['controller']].get('type')}"]
        lines.append("")
        if p.get("mtu"):
            lines += ["[ethernet]", f"mtu={p['mtu']}", ""]
        if kind == "bond":
            bond = p.get("bond") or {}
            lines += ["[bond]", f"mode={bond.get('mode', 'active-backup')}", f"miimon={bond.get('miimon', 100)}"]
            if bond.get("xmit_hash_policy"):
                lines.append(f"xmit_hash_policy={bond['xmit_hash_policy']}")
            if bond.get("lacp_rate"):
                lines.append(f"lacp_rate={bond['lacp_rate']}")
            lines.append("")
        elif kind == "vlan":
            lines += ["[vlan]", f"id={p['vlan']['id']}", f"parent={p['vlan']['parent']}", ""]
        elif kind == "bridge":
            lines += ["[bridge]", f"stp={'true' if (p.get('bridge') or {}).get('stp') else 'false'}", ""]
        if not p.get("controller"):
            if p.get("addresses"):
                lines += ["[ipv4]", "method=manual"]
                for j, addr in enumerate(p["addresses"], 1):
                    lines.append(f"address{j}={addr}")
                for j, route in enumerate(p.get("routes") or [], 1):
                    value = _route_to(route) + (f",{route['via']}" if route.get("via") else "") + (f",{route['metric']}" if "metric" in route else "")
                    lines.append(f"route{j}={value}")
            else:
                lines += ["[ipv4]", "method=disabled"]
            lines += ["", "[ipv6]", "method=disabled", ""]
        files[f"{conn_id}.nmconnection"] = "\n".join(lines)
    return files


# --- netplan -------------------------------------------------------------------------------------------------

def _netplan(profiles, backend="networkd"):
    sections = {"ethernet": "ethernets", "bond": "bonds", "vlan": "vlans", "bridge": "bridges"}
    network = {"version": 2, "renderer": backend}
    for p in _ordered(profiles):
        name, kind = p["name"], p.get("type", "ethernet")
        entry = {}
        if kind == "ethernet":
            entry["match"] = {"name": name}
            entry["set-name"] = name
        if p.get("mtu"):
            entry["mtu"] = p["mtu"]
        if kind in ("bond", "bridge"):
            entry["interfaces"] = sorted(q["name"] for q in profiles if q.get("controller") == name)
        if kind == "bond":
            bond = p.get("bond") or {}
            params = {"mode": bond.get("mode", "active-backup"), "mii-monitor-interval": bond.get("miimon", 100)}
            if bond.get("xmit_hash_policy"):
                params["transmit-hash-policy"] = bond["xmit_hash_policy"]
            if bond.get("lacp_rate"):
                params["lacp-rate"] = bond["lacp_rate"]
            entry["parameters"] = params
        elif kind == "bridge":
            entry["parameters"] = {"stp": bool((p.get("bridge") or {}).get("stp"))}
        elif kind == "vlan":
            entry["id"] = p["vlan"]["id"]
            entry["link"] = p["vlan"]["parent"]
        if not p.get("controller"):
            entry["link-local"] = []
            entry["dhcp4"] = False
            entry["dhcp6"] = False
            if p.get("addresses"):
                entry["addresses"] = list(p["addresses"])
            if p.get("routes"):
                entry["routes"] = [
                    {k: v for k, v in (("to", route["to"]), ("via", route.get("via")), ("metric", route.get("metric"))) if v is not None}
                    for route in p["routes"]
                ]
        network.setdefault(sections[kind], {})[name] = entry
    return {f"60-{FILE_PREFIX}.yaml": {"network": network}}


RENDERERS = {"networkd": _networkd, "networkmanager": _nm, "netplan": _netplan}


def host_network_render(profiles, renderer="networkd"):
    """{file name: content} for the renderer (netplan's content is a dict for to_nice_yaml)."""
    _check(profiles)
    if renderer not in RENDERERS:
        raise AnsibleFilterError(f"host_network_renderer {renderer!r} is not one of {', '.join(RENDERERS)}")
    return RENDERERS[renderer](profiles)


def host_network_validate(profiles):
    """The list of problems (empty when the profiles are valid)."""
    if not HAS_NETADDR:
        raise AnsibleFilterError("kmetal.platform host_network filters need the netaddr Python library on the controller")
    return validate_profiles(profiles)


def host_network_features(profiles):
    """The kernel features the profiles need: {feature: [interfaces]}."""
    needed = {}
    for p in profiles or []:
        feature = KERNEL_FEATURES.get(p.get("type", "ethernet"))
        if feature:
            needed.setdefault(feature, []).append(p["name"])
    return needed


def host_network_split(profiles, missing_features):
    """Split profiles into (applicable, deferred): deferred ones need a missing kernel feature, or ride on one."""
    deferred = {p["name"] for p in profiles if KERNEL_FEATURES.get(p.get("type", "ethernet")) in (missing_features or [])}
    changed = True
    while changed:
        changed = False
        for p in profiles:
            if p["name"] in deferred:
                continue
            link = p.get("controller") or (p.get("vlan") or {}).get("parent")
            if link in deferred:
                deferred.add(p["name"])
                changed = True
    return {
        "apply": [p for p in profiles if p["name"] not in deferred],
        "deferred": [p for p in profiles if p["name"] in deferred],
    }


def host_network_addresses(profiles, interface):
    """The addresses (without prefix length) of one interface's profile."""
    for p in profiles or []:
        if p.get("name") == interface:
            return [str(a).split("/", 1)[0] for a in p.get("addresses") or []]
    return []


def host_network_compare(profiles, ip_addr, ip_route):
    """Differences between the profiles and the live state (`ip -j -d addr show`, `ip -j route show`)."""
    problems = []
    links = {link.get("ifname"): link for link in ip_addr or []}
    routes = ip_route or []
    for p in profiles or []:
        name = p["name"]
        link = links.get(name)
        if link is None:
            problems.append(f"{name}: the interface does not exist")
            continue
        if p.get("mtu") and link.get("mtu") != p["mtu"]:
            problems.append(f"{name}: MTU is {link.get('mtu')}, the profile says {p['mtu']}")
        kind = (link.get("linkinfo") or {}).get("info_kind")
        if p.get("type") in ("bond", "vlan", "bridge") and kind != p["type"]:
            problems.append(f"{name}: the interface is a {kind or 'plain device'}, the profile says {p['type']}")
        if p.get("controller") and link.get("master") != p["controller"]:
            problems.append(f"{name}: its controller is {link.get('master') or 'none'}, the profile says {p['controller']}")
        have = {f"{a.get('local')}/{a.get('prefixlen')}" for a in link.get("addr_info") or [] if a.get("family") == "inet"}
        for addr in p.get("addresses") or []:
            if str(netaddr.IPNetwork(addr)) not in have:
                problems.append(f"{name}: address {addr} is missing (it has {', '.join(sorted(have)) or 'none'})")
        for route in p.get("routes") or []:
            dst = "default" if route["to"] in ("default", "0.0.0.0/0") else str(netaddr.IPNetwork(route["to"]).cidr)
            found = [
                r for r in routes
                if r.get("dev") == name and (r.get("dst") == dst or (dst.endswith("/32") and r.get("dst") == dst[:-3]))
                and (not route.get("via") or r.get("gateway") == route["via"])
                and ("metric" not in route or r.get("metric", 0) == route["metric"])
            ]
            if not found:
                problems.append(f"{name}: route to {route['to']}" + (f" via {route['via']}" if route.get("via") else "") + " is missing")
    return problems


class FilterModule:
    def filters(self):
        return {
            "host_network_render": host_network_render,
            "host_network_validate": host_network_validate,
            "host_network_features": host_network_features,
            "host_network_split": host_network_split,
            "host_network_addresses": host_network_addresses,
            "host_network_compare": host_network_compare,
        }
