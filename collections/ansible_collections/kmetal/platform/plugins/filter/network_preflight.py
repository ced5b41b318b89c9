# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""preflight_problems: every problem of a site's inventory and hosts, found at once (pure logic, netaddr)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover - netaddr is a dependency of the collection on the controller
    HAS_NETADDR = False

from ansible_collections.kmetal.platform.plugins.filter.network_profiles import validate_profiles

# Encapsulation overhead over IPv4 (outer IPv4 + UDP + tunnel header + inner Ethernet).
TUNNEL_OVERHEAD = {"geneve": 100, "vxlan": 50, "stt": 78}
VIRTUAL_TYPES = ("bond", "vlan", "bridge")


def _net(value, where, errors):
    """A CIDR as a netaddr.IPSet, or None with an error naming the field."""
    try:
        if isinstance(value, str) and "-" in value:  # a MetalLB range "a.b.c.d-e.f.g.h"
            first, last = (part.strip() for part in value.split("-", 1))
            return netaddr.IPSet(netaddr.IPRange(first, last))
        if not isinstance(value, str) or "/" not in value:
            raise ValueError("no prefix length")
        net = netaddr.IPNetwork(value)
        if net.network != net.ip:
            errors.append(f"{where}: {value} has host bits set; write it as {net.cidr}")
        return netaddr.IPSet([net.cidr])
    except (netaddr.AddrFormatError, ValueError, TypeError) as err:
        errors.append(f"{where}: {value!r} is not a CIDR (like 10.96.0.0/16) or an address range ({err})")
        return None


def _site_ranges(site, errors):
    """Every site-wide range that must not overlap another, as (field, text, IPSet)."""
    ranges = []
    for key in ("flannel_pod_cidr", "service_cidr", "kube_ovn_pod_cidr", "kube_ovn_join_cidr"):
        value = site.get(key)
        if value in (None, ""):
            errors.append(f"kmetal_{key} is not set: give it a CIDR (see inventories/sample/group_vars/all/network.yml)")
            continue
        net = _net(value, f"kmetal_{key}", errors)
        if net is not None:
            ranges.append((f"kmetal_{key}", value, net))
    for i, pool in enumerate(site.get("metallb_pools") or []):
        name = pool.get("name", i) if isinstance(pool, dict) else i
        addresses = pool.get("addresses", []) if isinstance(pool, dict) else []
        if not addresses:
            errors.append(f"kmetal_metallb_pools[{i}] ({name}): no addresses; give a CIDR, a range or a /32")
        for j, addr in enumerate(addresses):
            net = _net(addr, f"kmetal_metallb_pools[{i}] ({name}).addresses[{j}]", errors)
            if net is not None:
                ranges.append((f"MetalLB pool {name}", addr, net))
    provider = site.get("provider_network") or {}
    if provider.get("cidr"):
        net = _net(provider["cidr"], "kmetal_provider_network.cidr", errors)
        if net is not None:
            ranges.append(("kmetal_provider_network.cidr", provider["cidr"], net))
            gateway = provider.get("gateway")
            if gateway and netaddr.IPAddress(gateway) not in net:
                errors.append(f"kmetal_provider_network.gateway {gateway} is outside kmetal_provider_network.cidr {provider['cidr']}")
    return ranges


def _overlaps(ranges, errors):
    for i, (name_a, text_a, set_a) in enumerate(ranges):
        for name_b, text_b, set_b in ranges[i + 1:]:
            if set_a & set_b:
                errors.append(f"{name_a} {text_a} overlaps {name_b} {text_b}: every range must be distinct; move one of them")


def _mtu(site, errors):
    mode = site.get("networking_mode", "overlay")
    if mode not in ("overlay", "vlan"):
        errors.append(f"kmetal_networking_mode {mode!r} is not supported: use overlay or vlan")
    tunnel = site.get("tunnel_type", "geneve")
    if tunnel not in TUNNEL_OVERHEAD:
        errors.append(f"kmetal_tunnel_type {tunnel!r} is not supported: use one of {', '.join(sorted(TUNNEL_OVERHEAD))}")
        return
    tenant, underlay = site.get("tenant_mtu"), site.get("underlay_mtu")
    for key, value in (("tenant_mtu", tenant), ("underlay_mtu", underlay)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1280 <= value <= 9216:
            errors.append(f"kmetal_{key} {value!r} must be an integer from 1280 to 9216")
            return
    if mode == "overlay":
        overhead = TUNNEL_OVERHEAD[tunnel]
        if underlay - overhead < tenant:
            errors.append(
                f"MTU: kmetal_underlay_mtu {underlay} cannot carry kmetal_tenant_mtu {tenant} over {tunnel} "
                f"({overhead} bytes of encapsulation): raise kmetal_underlay_mtu to {tenant + overhead} or lower kmetal_tenant_mtu to {underlay - overhead}"
            )
        if not site.get("tunnel_interface"):
            errors.append("kmetal_tunnel_interface is not set: name the NIC or VLAN interface that carries the overlay (e.g. data.205)")


def _vlans(site, errors):
    seen = {}
    provider = site.get("provider_network") or {}
    owners = {}
    entries = []  # (where, VLAN ID, owner): one owner may use its VLAN for several subnets
    if provider.get("vlan_id") is not None:
        entries.append(("kmetal_provider_network.vlan_id", provider["vlan_id"], "provider"))
    # A tenant's VLAN (VLAN mode) is given per subnet, as the tenants role and the subnet module take it.
    for i, tenant in enumerate(site.get("tenants") or []):
        if not isinstance(tenant, dict):
            continue
        name = tenant.get("name", i)
        for j, subnet in enumerate(tenant.get("subnets") or []):
            vlan = subnet.get("vlan") if isinstance(subnet, dict) else None
            if isinstance(vlan, dict) and vlan.get("id") is not None:
                entries.append((f"kmetal_tenants[{i}] ({name}).subnets[{j}].vlan.id", vlan["id"], f"tenant {name}"))
    for where, vid, owner in entries:
        if not isinstance(vid, int) or isinstance(vid, bool) or not 1 <= vid <= 4094:
            errors.append(f"{where} {vid!r} is outside the VLAN range 1..4094")
            continue
        if vid in seen and owners[vid] != owner:
            errors.append(f"{where} {vid} is already used by {seen[vid]}: give each network its own VLAN ID")
        elif vid not in seen:
            seen[vid], owners[vid] = where, owner
    return seen


def _control_plane(site, errors):
    count = site.get("control_plane_count", 0)
    witnesses = len(site.get("witness_hosts") or [])
    if count < 1:
        errors.append("kmetal_control_plane has no hosts: put 1 or 3 (an odd number) hosts in it")
    elif (count + witnesses) % 2 == 0 and witnesses:
        errors.append(f"kmetal_control_plane has {count} hosts plus {witnesses} witness(es) in kmetal_etcd_witness, an even number of "
                      f"etcd members: etcd needs an odd count for quorum (3 or 5)")
    elif count % 2 == 0 and not witnesses:
        errors.append(f"kmetal_control_plane has {count} hosts, an even number: etcd needs an odd count for quorum (1, 3 or 5)")


CONTAINERS = ("systemd-nspawn", "container", "lxc", "docker", "podman", "containerd")


def _gpus(site, host, errors, warnings):
    """GPU passthrough: each named device exists and its IOMMU group holds only devices handed to VMs too (all of a
    group go to vfio-pci together; PCI bridges, class 0x0604, excepted). Skipped with the reason where the hardware
    cannot be checked (a container, no IOMMU)."""
    name, wanted = host.get("name", "?"), list(host.get("gpus") or [])
    if not wanted:
        return
    facts = host.get("gpu_facts") or []
    groups = next((int(line.split()[1]) for line in facts if line.startswith("iommu ")), 0)
    if host.get("virtualization_role") == "guest" and host.get("virtualization_type") in CONTAINERS:
        warnings.append(f"{name}: GPU passthrough checks skipped: it is a container ({host.get('virtualization_type')}), which owns no PCI "
                        f"devices; kmetal_gpu_devices {', '.join(wanted)} are checked on real servers")
        return
    if groups == 0:
        message = (f"{name}: the kernel has no IOMMU groups, so kmetal_gpu_devices ({', '.join(wanted)}) cannot be passed to VMs: set "
                   f"host_prep_iommu: true (intel_iommu=on/amd_iommu=on iommu=pt), reboot, and turn VT-d/AMD-Vi on in the firmware")
        if site.get("allow_missing_kvm"):
            warnings.append(message + " (GPU checks skipped: preflight_allow_missing_kvm)")
        else:
            errors.append(message)
        return
    for address in wanted:
        if f"missing {address}" in facts:
            errors.append(f"{name}: kmetal_gpu_devices {address}: no such PCI device (lspci -D lists the addresses)")
            continue
        others = []
        for line in facts:
            parts = line.split()
            if len(parts) == 4 and parts[0] == "group" and parts[1] == address and parts[2] not in wanted and not parts[3].startswith("0x0604"):
                others.append(parts[2])
        if others:
            errors.append(f"{name}: kmetal_gpu_devices {address}: its IOMMU group also holds {', '.join(sorted(others))}, which would go to "
                          f"vfio-pci with it: add them to kmetal_gpu_devices (e.g. the GPU's audio function) or move the card to a slot "
                          f"with a group of its own")


def _sites(site, errors, warnings):
    """Multi-site: the etcd members (control-plane hosts and witnesses) spread so that no site holds a quorum, and a
    control plane on two sites has a witness in a third. SITE's host_sites maps each host to its kmetal_site."""
    sites = {h: s for h, s in (site.get("host_sites") or {}).items() if s}
    members = list(site.get("control_plane_hosts") or [])
    witnesses = list(site.get("witness_hosts") or [])
    if not sites and not witnesses:
        return  # one site: nothing to spread
    for host in members + witnesses:
        if host not in sites:
            errors.append(f"{host}: kmetal_site is not set: on a multi-site installation every etcd member (the control-plane and "
                          f"witness hosts) names its site")
    placed = [sites[h] for h in members + witnesses if h in sites]
    total = len(members) + len(witnesses)
    quorum = total // 2 + 1
    by_site = {s: placed.count(s) for s in sorted(set(placed))}
    cp_sites = sorted({sites[h] for h in members if h in sites})
    witness_sites = sorted({sites[h] for h in witnesses if h in sites})
    if len(by_site) > 1:
        for name, count in by_site.items():
            if count >= quorum:
                errors.append(f"site {name} holds {count} of the {total} etcd members, a quorum: losing that site stops the under "
                              f"cluster's control plane, and a site holding one can decide alone; spread them so that no site "
                              f"holds {quorum} (e.g. one control-plane host per site, or a witness in a third site)")
    if len(cp_sites) == 2 and not [s for s in witness_sites if s not in cp_sites]:
        errors.append(f"the control plane spans two sites ({', '.join(cp_sites)}) with no witness in a third: whichever site fails, "
                      f"the other cannot tell a failure from a split; add an etcd witness host (group kmetal_etcd_witness) whose "
                      f"kmetal_site is neither")
    for host in witnesses:
        if sites.get(host) in cp_sites:
            errors.append(f"{host}: the witness is in site {sites[host]}, with control-plane hosts: put it in a third location")
    if len(cp_sites) == 1 and len(sites) > 1 and members:
        warnings.append(f"every control-plane host is in site {cp_sites[0]}: the under cluster's control plane does not survive the "
                        f"loss of that site")


def _host(site, host, site_vlans, cluster_ranges, errors, warnings):
    name = host.get("name", "?")
    profiles = host.get("profiles") or []
    for problem in validate_profiles(profiles, where=f"{name}: host_network_profiles"):
        errors.append(problem)
    valid = [p for p in profiles if isinstance(p, dict) and p.get("name")]
    _host_nics(site, host, name, valid, errors)
    _host_tunnel_mtu(site, host, name, valid, errors)
    _host_vlans(name, valid, site_vlans, errors)
    _host_addresses(name, valid, cluster_ranges, errors)
    _host_kvm(site, host, name, errors, warnings)
    _host_os(site, host, name, errors)


def _host_nics(site, host, name, valid, errors):
    """Every NIC a profile or a site setting names is on the host, or a profile creates it."""
    present = set(host.get("interfaces") or [])
    virtual = {p["name"] for p in valid if p.get("type") in VIRTUAL_TYPES}
    for p in valid:
        if p.get("type", "ethernet") == "ethernet" and p["name"] not in present:
            errors.append(f"{name}: NIC {p['name']} (host_network_profiles) is missing on the host; it has {', '.join(sorted(present)) or 'none'}")
    named = [
        ("kmetal_tunnel_interface", site.get("tunnel_interface")),
        ("kmetal_provider_network.interface", (site.get("provider_network") or {}).get("interface")),
        ("kmetal_control_plane_endpoint.interface", (site.get("control_plane_endpoint") or {}).get("interface") if host.get("control_plane") else None),
    ] + [(f"kmetal_metallb_l2_interfaces[{i}]", nic) for i, nic in enumerate(site.get("metallb_l2_interfaces") or [])]
    for field, nic in named:
        if nic and nic not in present and nic not in virtual:
            have = ", ".join(sorted(present)) or "none"
            errors.append(f"{name}: {field} names NIC {nic}, which the host lacks and no host_network profile creates (it has {have})")


def _host_tunnel_mtu(site, host, name, valid, errors):
    """The overlay transport must carry the underlay MTU."""
    tunnel = site.get("tunnel_interface")
    underlay = site.get("underlay_mtu")
    if tunnel and isinstance(underlay, int) and site.get("networking_mode", "overlay") == "overlay":
        by_name = {p["name"]: p for p in valid}
        mtu = by_name.get(tunnel, {}).get("mtu") or (host.get("mtus") or {}).get(tunnel)
        if isinstance(mtu, int) and mtu < underlay:
            errors.append(f"{name}: MTU of the overlay transport {tunnel} is {mtu}, below kmetal_underlay_mtu {underlay}: set mtu: {underlay} on its profile")


def _host_vlans(name, valid, site_vlans, errors):
    """Host VLANs must not take the provider network's VLAN on another NIC."""
    for p in valid:
        vlan = p.get("vlan") or {}
        if p.get("type") == "vlan" and vlan.get("id") in site_vlans and site_vlans[vlan.get("id")] == "kmetal_provider_network.vlan_id":
            errors.append(
                f"{name}: host VLAN interface {p['name']} reuses VLAN {vlan['id']} of kmetal_provider_network (Kube-OVN owns it): pick another VLAN ID"
            )


def _host_addresses(name, valid, cluster_ranges, errors):
    """Node subnets must not overlap the cluster's ranges."""
    for p in valid:
        for addr in p.get("addresses") or []:
            try:
                subnet = netaddr.IPNetwork(addr).cidr
            except (netaddr.AddrFormatError, ValueError, TypeError):
                continue
            for field, text, ipset in cluster_ranges:
                if field.startswith("MetalLB"):
                    # A pool inside the node subnet is normal (L2 mode); the node's own address inside it is not.
                    if netaddr.IPNetwork(addr).ip in ipset:
                        errors.append(f"{name}: address {addr} of {p['name']} lies inside {field} {text}: MetalLB would hand it out; shrink the pool")
                elif field.startswith("kmetal_provider_network"):
                    continue
                elif ipset & netaddr.IPSet([subnet]):
                    errors.append(f"{name}: address {addr} of {p['name']} overlaps {field} {text}: node networks and cluster ranges must be distinct")


def _host_kvm(site, host, name, errors, warnings):
    """KVM usable: /dev/kvm and the CPU's virtualization flags (a missing one accepted on a lab, as a warning)."""
    kvm = host.get("kvm") or {}
    if not kvm.get("device"):
        flags = "the CPU advertises " + ("vmx/svm" if kvm.get("cpu_flags") else "no vmx/svm flag (no hardware virtualization exposed)")
        message = f"{name}: KVM is unusable: /dev/kvm is missing ({flags}); enable VT-x/AMD-V in the firmware and load kvm_intel/kvm_amd"
        if site.get("allow_missing_kvm"):
            warnings.append(message + " (accepted: preflight_allow_missing_kvm is true, for labs only)")
        else:
            errors.append(message + ", or set preflight_allow_missing_kvm: true on a lab")
    elif not kvm.get("cpu_flags"):
        warnings.append(f"{name}: /dev/kvm is present but the CPU flags show no vmx/svm: KVM is paravirtualized or nested here")


def _host_os(site, host, name, errors):
    """The operating system is one of kmetal_supported_os."""
    os_name, os_major = host.get("distribution"), str(host.get("distribution_major_version", ""))
    supported = site.get("supported_os") or []
    if not any(os_name == entry.get("distribution") and os_major in [str(v) for v in entry.get("major_versions", [])] for entry in supported):
        listed = "; ".join(f"{e.get('distribution')} {'/'.join(str(v) for v in e.get('major_versions', []))}" for e in supported) or "none listed"
        errors.append(f"{name}: operating system {os_name} {os_major} is not supported (kmetal_supported_os: {listed})")


def _mirror_urls(site):
    """Every mirror and download URL of the site, each with the inventory field that sets it."""
    urls = []
    for key, url in (site.get("download_base_urls") or {}).items():
        urls.append((f"kmetal_download_base_urls.{key}", url))
    for key, url in (site.get("registry_mirrors") or {}).items():
        urls.append((f"kmetal_registry_mirrors[{key}]", url))
    apt = site.get("apt_mirror") or {}
    if apt.get("url"):
        urls.append(("kmetal_apt_mirror.url", apt["url"]))
    return urls


def _mirrors(site, errors):
    """With kmetal_mirror_allowed_networks set, every mirror and base URL host must be an address inside them."""
    allowed = site.get("mirror_allowed_networks") or []
    if not allowed:
        return
    nets = [n for n in (_net(a, "kmetal_mirror_allowed_networks", errors) for a in allowed) if n is not None]
    for field, url in _mirror_urls(site):
        host = urlsplit(str(url) if "://" in str(url) else "//" + str(url)).hostname or ""
        try:
            addr = netaddr.IPAddress(host)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            errors.append(f"{field}: {url} names host {host!r}, not an address in kmetal_mirror_allowed_networks "
                          f"({', '.join(map(str, allowed))}); use the mirror's address")
            continue
        if not any(addr in net for net in nets):
            errors.append(f"{field}: {url} is outside kmetal_mirror_allowed_networks ({', '.join(map(str, allowed))}); "
                          f"point it at the site's own mirror")


def _tenant_vips(site, errors):
    """Tenant control-plane VIPs: every tenant VPC drops traffic to kmetal_platform_cidrs, so a MetalLB pool inside them
    would give control planes VIPs their own workers cannot reach; and a tenant's VIP must be in a pool."""
    platform = []
    for i, cidr in enumerate(site.get("platform_cidrs") or []):
        net = _net(cidr, f"kmetal_platform_cidrs[{i}]", errors)
        if net is not None:
            platform.append((i, cidr, net))
    pools = []
    for i, pool in enumerate(site.get("metallb_pools") or []):
        if not isinstance(pool, dict):
            continue
        for j, addr in enumerate(pool.get("addresses") or []):
            net = _net(addr, f"kmetal_metallb_pools[{i}] ({pool.get('name', i)}).addresses[{j}]", [])
            if net is None:
                continue
            pools.append(net)
            for k, cidr, pnet in platform:
                if net & pnet:
                    errors.append(f"kmetal_metallb_pools[{i}] ({pool.get('name', i)}) {addr} lies in kmetal_platform_cidrs[{k}] {cidr}: every "
                                  "tenant VPC drops traffic to the platform CIDRs, so tenant workers could not reach a control-plane VIP "
                                  "from this pool; move the pool out of kmetal_platform_cidrs")
    for t in site.get("tenants") or []:
        if not isinstance(t, dict):
            continue
        for c in t.get("clusters") or []:
            if not isinstance(c, dict):
                continue
            vip = (c.get("control_plane") or {}).get("service_address")
            if not vip or not pools:
                continue
            try:
                ip = netaddr.IPAddress(vip)
            except (netaddr.AddrFormatError, ValueError, TypeError):
                continue  # the tenant modules name a malformed address
            if not any(ip in pool for pool in pools):
                errors.append(f"kmetal_tenants {t.get('name')} cluster {c.get('name')}: control_plane.service_address {vip} is in no "
                              "kmetal_metallb_pools pool, so MetalLB cannot give it to the control plane; use an address from a pool")


def preflight_problems(site, hosts):
    """Check a site's settings and its hosts' facts; return {'errors': [...], 'warnings': [...]}.

    site: the kmetal_* settings without the prefix, plus control_plane_count and allow_missing_kvm.
    hosts: one dict per host: name, control_plane, interfaces, mtus, profiles, kvm {device, cpu_flags},
    distribution, distribution_major_version.
    """
    if not HAS_NETADDR:
        raise AnsibleFilterError("kmetal.platform.preflight_problems needs the netaddr Python library on the controller: pip install netaddr")
    if not isinstance(site, dict) or not isinstance(hosts, list):
        raise AnsibleFilterError("preflight_problems expects a dict of site settings and a list of host summaries")
    errors, warnings = [], []
    ranges = _site_ranges(site, errors)
    _overlaps(ranges, errors)
    _mtu(site, errors)
    site_vlans = _vlans(site, errors)
    _control_plane(site, errors)
    _sites(site, errors, warnings)
    _tenant_vips(site, errors)
    _mirrors(site, errors)
    for host in hosts:
        _host(site, host, site_vlans, ranges, errors, warnings)
        _gpus(site, host, errors, warnings)
    return {"errors": errors, "warnings": warnings}


class FilterModule:
    def filters(self):
        return {"preflight_problems": preflight_problems}
