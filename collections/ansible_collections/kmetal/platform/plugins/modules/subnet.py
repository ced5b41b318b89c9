#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: subnet
short_description: Manage a Kube-OVN subnet in a tenant's VPC
version_added: 0.1.0
description:
  - A Kube-OVN C(Subnet) (C(kubeovn.io/v1), cluster-scoped) in a VPC, IPv4, IPv6 or dual stack, overlay or VLAN.
  - Before any write the module reads the subnets once and refuses a CIDR that overlaps another subnet of the
    same VPC (overlap across VPCs is allowed, as tenants' CIDRs may overlap), and a change of an immutable field
    (C(cidrBlock), C(vpc), C(protocol)).
  - In VLAN mode it also applies the Kube-OVN C(Vlan) (id and provider network) the subnet refers to.
  - O(state=absent) refuses while addresses are in use (C(status.v4usingIPs)/C(v6usingIPs) or Kube-OVN C(IP)
    objects of the subnet) unless O(force=true).
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: The subnet's name, a DNS-1123 label.
    type: str
    required: true
  vpc:
    description: The VPC the subnet belongs to (C(ovn-cluster) is the default VPC). Required with O(state=present). Immutable.
    type: str
  tenant:
    description: The tenant label on the subnet. Defaults to the VPC's tenant when the subnet is created.
    type: str
  state:
    description: Whether the subnet should exist.
    type: str
    choices: [present, absent]
    default: present
  cidr:
    description:
      - One IPv4 and/or one IPv6 network (dual stack), as a list or a comma-separated string. Required with O(state=present). Immutable.
    type: list
    elements: str
  protocol:
    description: C(IPv4), C(IPv6) or C(Dual); derived from O(cidr) when omitted, and must match it when given. Immutable.
    type: str
    choices: [IPv4, IPv6, Dual]
  gateway:
    description: One gateway per network of O(cidr). Defaults to the first usable address of each.
    type: list
    elements: str
  exclude_ips:
    description: Addresses or ranges C(FIRST..LAST) inside O(cidr) that are never allocated.
    type: list
    elements: str
  mode:
    description: C(overlay) (Geneve) or C(vlan) (underlay, needs O(vlan)).
    type: str
    choices: [overlay, vlan]
    default: overlay
  vlan:
    description: The VLAN of an underlay subnet (O(mode=vlan)).
    type: dict
    suboptions:
      id:
        description: The VLAN id, 0 to 4094.
        type: int
        required: true
      provider:
        description: The Kube-OVN ProviderNetwork the VLAN rides on.
        type: str
        required: true
      name:
        description: The Vlan object's name. Defaults to C(<provider>-vlan<id>).
        type: str
  nat_outgoing:
    description: Masquerade traffic leaving the subnet.
    type: bool
  private:
    description: Only O(allow_subnets) may reach the subnet.
    type: bool
  allow_subnets:
    description: Networks allowed into a private subnet.
    type: list
    elements: str
  namespaces:
    description: Namespaces whose pods get addresses from the subnet.
    type: list
    elements: str
  mtu:
    description: The MTU of the subnet's interfaces, 68 to 9000 (Geneve costs 100 bytes of the underlay's MTU).
    type: int
  gateway_type:
    description: C(distributed) or C(centralized) gateway.
    type: str
    choices: [distributed, centralized]
  force:
    description: With O(state=absent), delete the subnet even though addresses are in use.
    type: bool
    default: false
extends_documentation_fragment:
  - kmetal.platform._api
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
seealso:
  - module: kmetal.platform.vpc
  - module: kmetal.platform.subnet_info
"""

EXAMPLES = r"""
- name: Dual-stack overlay subnet in acme's VPC
  kmetal.platform.subnet:
    name: acme-prod
    vpc: acme
    cidr: 10.200.0.0/24,fd00:10:200::/64
    exclude_ips: [10.200.0.2..10.200.0.9]
    nat_outgoing: true

- name: Underlay subnet on VLAN 205 of provider network data
  kmetal.platform.subnet:
    name: acme-vlan
    vpc: ovn-cluster
    cidr: [192.168.205.0/24]
    gateway: [192.168.205.254]
    mode: vlan
    vlan: {id: 205, provider: data}
"""

RETURN = r"""
subnet:
  description: The Subnet after the run (without managedFields and resourceVersion); null when absent.
  returned: always
  type: dict
  sample: {"kind": "Subnet", "metadata": {"name": "acme-prod"}, "spec": {"cidrBlock": "10.200.0.0/24", "vpc": "acme"}}
vlan:
  description: The Vlan after the run, in VLAN mode.
  returned: when O(mode=vlan)
  type: dict
addresses_in_use:
  description: Addresses in use found when deleting the subnet.
  returned: when O(state=absent) and the subnet existed
  type: int
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run
from ansible_collections.kmetal.platform.plugins.module_utils._network import SUBNET_ARGS, subnet_reconcile


def main():
    run(argspec(**SUBNET_ARGS), subnet_reconcile)


if __name__ == "__main__":
    main()
