# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kube-OVN VPCs and subnets of tenants: validation, desired objects, and reconcile (vpc and subnet modules)."""

from __future__ import annotations

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, ident
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import apply_object, delete_object, diff_entry, needs_apply, normalize
from ansible_collections.kmetal.platform.plugins.module_utils._snapshot import Snapshot
from ansible_collections.kmetal.platform.plugins.module_utils._tenant import tenant_namespace
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems, first_usable, overlaps, usable

DEFAULT_VPC = "ovn-cluster"
SUBNET_LABEL = "ovn.kubernetes.io/subnet"
MAX_PRIORITY = 32767

VPC_ARGS = dict(
    name={"type": "str", "required": True},
    tenant={"type": "str"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    namespaces={"type": "list", "elements": "str"},
    static_routes={"type": "list", "elements": "dict", "default": [], "options": {
        "cidr": {"type": "str", "required": True},
        "next_hop_ip": {"type": "str", "required": True},
        "policy": {"type": "str", "default": "policyDst", "choices": ["policyDst", "policySrc"]},
        "route_table": {"type": "str"},
    }},
    policy_routes={"type": "list", "elements": "dict", "default": [], "options": {
        "priority": {"type": "int", "required": True},
        "match": {"type": "str", "required": True},
        "action": {"type": "str", "required": True, "choices": ["allow", "drop", "reroute"]},
        "next_hop_ip": {"type": "str"},
    }},
    platform_cidrs={"type": "list", "elements": "str", "default": []},
    platform_drop_priority={"type": "int", "default": 31000},
    enable_external={"type": "bool", "default": False},
    external_next_hop={"type": "str"},
    force={"type": "bool", "default": False},
)

SUBNET_ARGS = dict(
    name={"type": "str", "required": True},
    vpc={"type": "str"},
    tenant={"type": "str"},
    state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    cidr={"type": "list", "elements": "str"},
    protocol={"type": "str", "choices": ["IPv4", "IPv6", "Dual"]},
    gateway={"type": "list", "elements": "str"},
    exclude_ips={"type": "list", "elements": "str"},
    mode={"type": "str", "default": "overlay", "choices": ["overlay", "vlan"]},
    vlan={"type": "dict", "options": {
        "id": {"type": "int", "required": True},
        "provider": {"type": "str", "required": True},
        "name": {"type": "str"},
    }},
    nat_outgoing={"type": "bool"},
    private={"type": "bool"},
    allow_subnets={"type": "list", "elements": "str"},
    namespaces={"type": "list", "elements": "str"},
    mtu={"type": "int"},
    gateway_type={"type": "str", "choices": ["distributed", "centralized"]},
    force={"type": "bool", "default": False},
)


def _labels(tenant):
    labels = dict(MANAGED_BY)
    if tenant:
        labels[TENANT_LABEL] = tenant
    return labels


# -- VPC -----------------------------------------------------------------------------------------------------
def build_vpc(p):
    """Validate the vpc module's parameters P and build the Vpc. Touches no API."""
    problems = Problems(ident("Vpc", p.get("name")))
    problems.label_name("name", p.get("name"))
    if p.get("tenant") is not None:
        problems.label_name("tenant", p.get("tenant"), max_len=56)
    if p.get("state", "present") == "absent":
        problems.raise_if_any()
        return None
    namespaces = p.get("namespaces")
    if namespaces is None:
        namespaces = [tenant_namespace(p["tenant"])] if p.get("tenant") else []
    for i, ns in enumerate(namespaces):
        problems.label_name("namespaces[%d]" % i, ns)
    static = _vpc_static_routes(p, problems)
    policies = _vpc_policy_routes(p, problems)
    _vpc_external_route(p, static, problems)
    problems.raise_if_any()
    spec = {"namespaces": namespaces, "staticRoutes": static, "policyRoutes": policies, "enableExternal": bool(p.get("enable_external"))}
    return {"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": p["name"], "labels": _labels(p.get("tenant"))}, "spec": spec}


def _vpc_static_routes(p, problems):
    """static_routes as the Vpc's staticRoutes: a network and a next hop of its family each."""
    static = []
    for i, route in enumerate(p.get("static_routes") or []):
        net = problems.cidr("static_routes[%d].cidr" % i, route.get("cidr"))
        hop = problems.ip("static_routes[%d].next_hop_ip" % i, route.get("next_hop_ip"), version=net.version if net else None)
        if net and hop:
            entry = {"policy": route.get("policy") or "policyDst", "cidr": str(net.cidr), "nextHopIP": str(hop)}
            if route.get("route_table"):
                entry["routeTable"] = route["route_table"]
            static.append(entry)
    return static


def _vpc_policy_routes(p, problems):
    """The Vpc's policyRoutes: the user's (a next hop with reroute only, no repeated priority and match), then a
    drop of each platform network at platform_drop_priority, which isolates the tenant from the platform."""
    policies = []
    seen = {}
    for i, route in enumerate(p.get("policy_routes") or []):
        field = "policy_routes[%d]" % i
        prio = problems.int_range(field + ".priority", route.get("priority"), 0, MAX_PRIORITY)
        match = route.get("match")
        if not isinstance(match, str) or not match.strip():
            problems.add(field + ".match", "is empty: give an OVN match expression, e.g. ip4.dst == 10.0.0.0/8")
        action = route.get("action")
        entry = {"priority": prio, "match": match, "action": action}
        if action == "reroute":
            hop = problems.ip(field + ".next_hop_ip", route.get("next_hop_ip")) if route.get("next_hop_ip") else None
            if not route.get("next_hop_ip"):
                problems.add(field + ".next_hop_ip", "is required with action reroute")
            if hop:
                entry["nextHopIP"] = str(hop)
        elif route.get("next_hop_ip"):
            problems.add(field + ".next_hop_ip", "is only meaningful with action reroute; remove it or set action: reroute")
        if prio is not None and match:
            if (prio, match) in seen:
                problems.add(field, "repeats %s (same priority and match)" % seen[(prio, match)])
            seen[(prio, match)] = field
        policies.append(entry)
    drop_prio = problems.int_range("platform_drop_priority", p.get("platform_drop_priority", 31000), 0, MAX_PRIORITY)
    for i, cidr in enumerate(p.get("platform_cidrs") or []):
        net = problems.cidr("platform_cidrs[%d]" % i, cidr)
        if net is None or drop_prio is None:
            continue
        match = "ip%d.dst == %s" % (net.version, net.cidr)
        if (drop_prio, match) in seen:
            problems.add("platform_cidrs[%d]" % i, "%s is given twice (or also in policy_routes)" % cidr)
            continue
        seen[(drop_prio, match)] = "platform_cidrs[%d]" % i
        policies.append({"priority": drop_prio, "match": match, "action": "drop"})
    return policies


def _vpc_external_route(p, static, problems):
    """external_next_hop as a default route added to STATIC (with enable_external, and no default route there yet)."""
    if p.get("external_next_hop"):
        if not p.get("enable_external"):
            problems.add("external_next_hop", "needs enable_external: true")
        hop = problems.ip("external_next_hop", p["external_next_hop"])
        if hop:
            default = "0.0.0.0/0" if hop.version == 4 else "::/0"
            if any(r["cidr"] == default for r in static):
                problems.add("external_next_hop", "static_routes already has a default route %s; give only one of them" % default)
            static.append({"policy": "policyDst", "cidr": default, "nextHopIP": str(hop)})


def vpc_reconcile(module, connect):
    p = module.params
    desired = build_vpc(p)
    client = connect()
    live = client.get("Vpc", p["name"])
    if p["state"] == "absent":
        return _absent_vpc(module, client, p, live)

    changed, before, after = apply_object(client, desired, live, module.check_mode, check=lambda current: vpc_check(desired, p.get("tenant"), current))
    result = {"changed": changed, "vpc": normalize(after)}
    if changed and module._diff:
        result["diff"] = diff_entry(before, after, ident("Vpc", p["name"]))
    return result


def vpc_check(desired, tenant, live):
    """The VPC check, the same for a module call and a fleet: a VPC of another tenant is never taken over."""
    owner = ((live or {}).get("metadata", {}).get("labels") or {}).get(TENANT_LABEL)
    if live is not None and tenant and owner and owner != tenant:
        raise KmetalError("the VPC belongs to tenant %r, not %r" % (owner, tenant), obj=ident("Vpc", desired["metadata"]["name"]), field="tenant")


def _absent_vpc(module, client, p, live):
    if live is None:
        return {"changed": False, "vpc": None}
    subnets = [s["metadata"]["name"] for s in client.list("Subnet") if (s.get("spec") or {}).get("vpc") == p["name"]]
    if subnets and not p["force"]:
        raise KmetalError("refusing to delete the VPC while subnets %s are in it: delete them first or set force: true" % subnets,
                          obj=ident("Vpc", p["name"]), field="state")
    changed = delete_object(client, "Vpc", live, module.check_mode)
    result = {"changed": changed, "vpc": None, "subnets": subnets}
    if changed and module._diff:
        result["diff"] = diff_entry(live, None, ident("Vpc", p["name"]))
    return result


# -- subnet --------------------------------------------------------------------------------------------------
def subnet_cidrs(text):
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def build_subnet(p):
    """Validate the subnet module's parameters P and build (Subnet, Vlan or None, [networks]). Touches no API."""
    problems = Problems(ident("Subnet", p.get("name")))
    problems.label_name("name", p.get("name"))
    if p.get("tenant") is not None:
        problems.label_name("tenant", p.get("tenant"), max_len=56)
    if p.get("state", "present") == "absent":
        problems.raise_if_any()
        return None, None, []
    vpc = p.get("vpc")
    if not vpc:
        problems.add("vpc", "is required with state present: name the tenant's VPC (or %s for the default one)" % DEFAULT_VPC)
    else:
        problems.label_name("vpc", vpc)
    nets, protocol = _subnet_networks(p, problems)
    gateways = _subnet_gateways(p, nets, problems)
    excludes = _subnet_excludes(p, nets, problems)
    allow = []
    for i, item in enumerate(p.get("allow_subnets") or []):
        net = problems.cidr("allow_subnets[%d]" % i, item)
        if net is not None:
            allow.append(str(net.cidr))
    if allow and not p.get("private"):
        problems.add("allow_subnets", "only applies to a private subnet: set private: true or remove allow_subnets")
    for i, ns in enumerate(p.get("namespaces") or []):
        problems.label_name("namespaces[%d]" % i, ns)
    mtu = p.get("mtu")
    problems.int_range("mtu", mtu, 68, 9000)
    vlan = _subnet_vlan(p, problems)
    problems.raise_if_any()

    spec = {"vpc": vpc, "protocol": protocol, "cidrBlock": ",".join(str(n.cidr) for n in nets), "gateway": ",".join(str(g) for g in gateways)}
    if excludes:
        spec["excludeIps"] = excludes
    if p.get("nat_outgoing") is not None:
        spec["natOutgoing"] = p["nat_outgoing"]
    if p.get("private") is not None:
        spec["private"] = p["private"]
    if allow:
        spec["allowSubnets"] = allow
    if p.get("namespaces") is not None:
        spec["namespaces"] = p["namespaces"]
    if mtu is not None:
        spec["mtu"] = mtu
    if p.get("gateway_type"):
        spec["gatewayType"] = p["gateway_type"]
    if vlan:
        spec["vlan"] = vlan["metadata"]["name"]
    subnet = {"apiVersion": "kubeovn.io/v1", "kind": "Subnet", "metadata": {"name": p["name"], "labels": _labels(p.get("tenant"))}, "spec": spec}
    return subnet, vlan, nets


def _subnet_networks(p, problems):
    """The cidr option's networks (at most one per IP family, each big enough for a gateway and hosts), IPv4 first,
    and the protocol they make (IPv4, IPv6 or Dual), checked against the protocol option."""
    raw = []
    for item in p.get("cidr") or []:
        raw.extend(subnet_cidrs(item))
    if not raw:
        problems.add("cidr", "is required with state present: give one IPv4 and/or one IPv6 network, e.g. 10.200.0.0/24")
    nets = [problems.cidr("cidr[%d]" % i, c) for i, c in enumerate(raw)]
    nets = [n for n in nets if n is not None]
    versions = [n.version for n in nets]
    if len(raw) > 2 or len(set(versions)) != len(versions):
        problems.add("cidr", "give at most one IPv4 and one IPv6 network (dual stack), not %s" % ", ".join(raw))
        nets = []
    protocol = {(4,): "IPv4", (6,): "IPv6"}.get(tuple(sorted(set(versions))), "Dual")
    if p.get("protocol") and nets and p["protocol"] != protocol:
        problems.add("protocol", "%s does not match the cidr %s (which is %s)" % (p["protocol"], ",".join(raw), protocol))
    for net in nets:
        if (net.version == 4 and net.prefixlen > 30) or (net.version == 6 and net.prefixlen > 126):
            problems.add("cidr", "%s is too small to hold a gateway and hosts: use at most /30 (IPv4) or /126 (IPv6)" % net)
    nets.sort(key=lambda n: n.version)
    return nets, protocol


def _subnet_gateways(p, nets, problems):
    """One gateway per network, each a usable address of its network; the first usable ones when none is given."""
    gateways = []
    parts = [part for gw in (p.get("gateway") or []) for part in subnet_cidrs(gw)]
    for part in parts:
        addr = problems.ip("gateway", part)
        if addr is None:
            continue
        match = [n for n in nets if n.version == addr.version]
        if not match:
            problems.add("gateway", "%s has no IPv%d network in cidr to belong to" % (addr, addr.version))
        elif not usable(addr, match[0]):
            problems.add("gateway", "%s is not a usable address of %s: choose one inside it, e.g. %s" % (addr, match[0], first_usable(match[0])))
        else:
            gateways.append(addr)
    if not parts:
        gateways = [first_usable(n) for n in nets]
    elif nets and len(parts) != len(nets):
        problems.add("gateway", "give one gateway per network of cidr (%d), not %d" % (len(nets), len(parts)))
    gateways.sort(key=lambda a: a.version)
    return gateways


def _subnet_excludes(p, nets, problems):
    """exclude_ips: addresses or FIRST..LAST ranges of one family, inside the subnet's networks."""
    excludes = []
    for i, item in enumerate(p.get("exclude_ips") or []):
        field = "exclude_ips[%d]" % i
        parts = str(item).split("..")
        if len(parts) > 2:
            problems.add(field, "%r: write one address or a range FIRST..LAST" % item)
            continue
        addrs = [problems.ip(field, x) for x in parts]
        if None in addrs:
            continue
        if len(addrs) == 2 and (addrs[0].version != addrs[1].version or addrs[0] > addrs[1]):
            problems.add(field, "%r: the range must go from a lower to a higher address of one family" % item)
            continue
        if nets and not any(all(a in n for a in addrs) for n in nets):
            problems.add(field, "%r is outside the subnet's cidr %s" % (item, ",".join(str(n) for n in nets)))
            continue
        excludes.append(str(item))
    return excludes


def _subnet_vlan(p, problems):
    """The Kube-OVN Vlan of a subnet in mode vlan (its name given, or derived from provider and id), else None."""
    mode = p.get("mode") or "overlay"
    if mode != "vlan":
        if p.get("vlan"):
            problems.add("vlan", "only applies with mode vlan: set mode: vlan or remove vlan")
        return None
    v = p.get("vlan")
    if not v:
        problems.add("vlan", "is required with mode vlan: give its id and provider network")
        return None
    vid = problems.int_range("vlan.id", v.get("id"), 0, 4094)
    provider = problems.label_name("vlan.provider", v.get("provider"))
    if v.get("name"):
        vname = problems.label_name("vlan.name", v["name"])
    else:
        # derived from id and provider: a problem of either is already reported, not a second time here
        vname = "%s-vlan%s" % (provider, vid) if provider and vid is not None else None
        if vname:
            problems.label_name("vlan.name", vname)
    return {"apiVersion": "kubeovn.io/v1", "kind": "Vlan", "metadata": {"name": vname, "labels": dict(MANAGED_BY)},
            "spec": {"id": vid, "provider": v.get("provider")}}


def check_subnet_against(desired, nets, live, others):
    """Problems of DESIRED (networks NETS) against the cluster: immutable fields of LIVE, and overlap with OTHERS,
    the other subnets of the same VPC. Pure: the bulk path gives it what one LIST returned."""
    problems = Problems(ident("Subnet", desired["metadata"]["name"]))
    spec = desired["spec"]
    if live is not None:
        have = live.get("spec") or {}
        for field, option in (("vpc", "vpc"), ("protocol", "protocol"), ("cidrBlock", "cidr")):
            if have.get(field) and have.get(field) != spec.get(field):
                problems.add(option, "cannot change %s from %s to %s: it is immutable in Kube-OVN; create a new subnet instead"
                             % (field, have.get(field), spec.get(field)))
    import netaddr  # present: validation already parsed the CIDRs with it

    for other in others:
        for text in subnet_cidrs((other.get("spec") or {}).get("cidrBlock")):
            try:
                theirs = netaddr.IPNetwork(text)
            except (netaddr.AddrFormatError, ValueError):
                continue
            for net in nets:
                if net.version == theirs.version and overlaps(net, theirs):
                    problems.add("cidr", "%s overlaps %s of subnet %s in the same VPC %s: choose a range that does not overlap"
                                 % (net, theirs, other["metadata"]["name"], spec["vpc"]))
    problems.raise_if_any()


def subnet_check(desired, nets, live, snapshot, tenant=None, declared=None, siblings=None, check_mode=False, warn=None):
    """The subnet checks, the same for a module call and a fleet, before the subnet is written: its VPC exists (or
    DECLARED, {(kind, namespace, name)} the same run writes, has it; in check mode a missing one is a warning, as
    an earlier task may create it), the tenant label follows the VPC's, immutable fields, and no overlap with
    another subnet of the VPC (SNAPSHOT's, or SIBLINGS: {name: Subnet} the same run writes in the VPC)."""
    name, vpc = desired["metadata"]["name"], desired["spec"]["vpc"]
    if live is None and vpc != DEFAULT_VPC and ("Vpc", None, vpc) not in (declared or {}):
        parent = snapshot.get("Vpc", vpc)
        if parent is None and check_mode:
            if warn:
                warn("the subnet %s depends on the VPC %s, which does not exist yet: predicted as if a task before creates it" % (name, vpc))
        elif parent is None:
            raise KmetalError("the VPC %s does not exist: create it first (kmetal.platform.vpc)" % vpc, obj=ident("Subnet", name), field="vpc")
        elif not tenant and (parent["metadata"].get("labels") or {}).get(TENANT_LABEL):
            desired["metadata"]["labels"][TENANT_LABEL] = parent["metadata"]["labels"][TENANT_LABEL]
    if not needs_apply(desired, live):
        return  # no write: nothing to check (and a no-op run lists nothing)
    others = {s["metadata"]["name"]: s for s in snapshot.subnets()
              if s["metadata"]["name"] != name and ((s.get("spec") or {}).get("vpc") or DEFAULT_VPC) == vpc}
    for other, obj in (siblings or {}).items():
        if other != name:
            others[other] = obj
    check_subnet_against(desired, nets, live, sorted(others.values(), key=lambda o: o["metadata"]["name"]))


def subnet_reconcile(module, connect):
    p = module.params
    desired, vlan, nets = build_subnet(p)
    client = connect()
    if p["state"] == "absent":
        return _absent_subnet(module, client, p)
    snapshot = Snapshot(client)
    live = snapshot.get("Subnet", p["name"])
    inherited = ((live or {}).get("metadata", {}).get("labels") or {}).get(TENANT_LABEL)
    if inherited and not p.get("tenant"):
        desired["metadata"]["labels"][TENANT_LABEL] = inherited  # keep the tenant label the subnet has

    def check(current):
        subnet_check(desired, nets, current, snapshot, tenant=p.get("tenant"), check_mode=module.check_mode, warn=module.warn)

    result = {"changed": False}
    diffs = []
    check(live)
    if vlan is not None:
        vlan_live = client.get("Vlan", vlan["metadata"]["name"])
        changed, before, after = apply_object(client, vlan, vlan_live, module.check_mode)
        result["changed"] |= changed
        result["vlan"] = normalize(after)
        if changed and module._diff:
            diffs.append(diff_entry(before, after, ident("Vlan", vlan["metadata"]["name"])))
    changed, before, after = apply_object(client, desired, live, module.check_mode, reread=lambda: snapshot.refresh("Subnet", p["name"]), check=check)
    result["changed"] |= changed
    result["subnet"] = normalize(after)
    if changed and module._diff:
        diffs.append(diff_entry(before, after, ident("Subnet", p["name"])))
    if diffs:
        result["diff"] = diffs if len(diffs) > 1 else diffs[0]
    return result


def addresses_in_use(subnet, ips):
    """How many addresses of SUBNET are in use: its status counters, or the Kube-OVN IP objects naming it."""
    status = subnet.get("status") or {}
    counted = int(status.get("v4usingIPs") or 0) + int(status.get("v6usingIPs") or 0)
    named = [ip["metadata"]["name"] for ip in ips if (ip.get("spec") or {}).get("subnet") == subnet["metadata"]["name"]]
    return max(counted, len(named)), named


def _absent_subnet(module, client, p):
    live = client.get("Subnet", p["name"])
    if live is None:
        return {"changed": False, "subnet": None}
    ips = client.list("IP", label_selector="%s=%s" % (SUBNET_LABEL, p["name"]))
    used, named = addresses_in_use(live, ips)
    if used and not p["force"]:
        raise KmetalError("refusing to delete the subnet while %d addresses are in use (%s): remove the workloads first or set force: true"
                          % (used, ", ".join(named[:5]) or "status.v4usingIPs/v6usingIPs"), obj=ident("Subnet", p["name"]), field="state")
    changed = delete_object(client, "Subnet", live, module.check_mode)
    result = {"changed": changed, "subnet": None, "addresses_in_use": used}
    if changed and module._diff:
        result["diff"] = diff_entry(live, None, ident("Subnet", p["name"]))
    return result
