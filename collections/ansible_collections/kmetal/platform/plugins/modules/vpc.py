#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vpc
short_description: Manage a tenant's Kube-OVN VPC with routes that keep the tenant away from the platform
version_added: 0.1.0
description:
  - A Kube-OVN C(Vpc) (C(kubeovn.io/v1), cluster-scoped) for a tenant, labelled C(kmetal.io/tenant=<tenant>).
  - By default each of O(platform_cidrs) (the under cluster's API, the platform services, the VIP pool) gets a
    C(drop) policy route, so the tenant can never reach the platform.
  - Optional external egress (C(enableExternal)) with its default route.
  - O(state=absent) refuses to delete a VPC that still holds subnets unless O(force=true).
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: The VPC's name, a DNS-1123 label.
    type: str
    required: true
  tenant:
    description: The tenant the VPC belongs to (a label on it); also the default of O(namespaces).
    type: str
  state:
    description: Whether the VPC should exist.
    type: str
    choices: [present, absent]
    default: present
  namespaces:
    description: Namespaces bound to the VPC. Defaults to C(tenant-<tenant>) when O(tenant) is given.
    type: list
    elements: str
  static_routes:
    description: Static routes of the VPC's router.
    type: list
    elements: dict
    default: []
    suboptions:
      cidr:
        description: Destination (or source with O(static_routes[].policy=policySrc)) network.
        type: str
        required: true
      next_hop_ip:
        description: The next hop, of the same IP family as O(static_routes[].cidr).
        type: str
        required: true
      policy:
        description: Route on destination or on source.
        type: str
        choices: [policyDst, policySrc]
        default: policyDst
      route_table:
        description: The OVN route table.
        type: str
  policy_routes:
    description: Policy routes of the VPC's router. Higher priority wins; unmatched traffic is allowed.
    type: list
    elements: dict
    default: []
    suboptions:
      priority:
        description: 0 to 32767.
        type: int
        required: true
      match:
        description: An OVN match expression, for example C(ip4.dst == 10.0.0.0/8).
        type: str
        required: true
      action:
        description: What to do with matching traffic.
        type: str
        required: true
        choices: [allow, drop, reroute]
      next_hop_ip:
        description: The next hop, with O(policy_routes[].action=reroute) only.
        type: str
  platform_cidrs:
    description: Platform networks the tenant must never reach; each gets a C(drop) policy route at O(platform_drop_priority).
    type: list
    elements: str
    default: []
  platform_drop_priority:
    description: The priority of the platform drop routes.
    type: int
    default: 31000
  enable_external:
    description: Give the VPC external egress (C(enableExternal)).
    type: bool
    default: false
  external_next_hop:
    description: With O(enable_external=true), add the default route (C(0.0.0.0/0) or C(::/0)) through this next hop.
    type: str
  force:
    description: With O(state=absent), delete the VPC even though subnets remain in it.
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
  - module: kmetal.platform.subnet
  - module: kmetal.platform.vpc_info
"""

EXAMPLES = r"""
- name: VPC of tenant acme, cut off from the platform, with external egress
  kmetal.platform.vpc:
    name: acme
    tenant: acme
    platform_cidrs:
      - 10.96.0.0/16      # under cluster services
      - 192.168.10.0/24   # under cluster API and platform VIP pool
    enable_external: true
    external_next_hop: 172.31.0.1

- name: Remove it
  kmetal.platform.vpc:
    name: acme
    state: absent
"""

RETURN = r"""
vpc:
  description: The Vpc after the run (without managedFields and resourceVersion); null when absent.
  returned: always
  type: dict
  sample: {"kind": "Vpc", "metadata": {"name": "acme"}, "spec": {"namespaces": ["tenant-acme"]}}
subnets:
  description: The subnets found in the VPC when deleting it.
  returned: when O(state=absent) and the VPC existed
  type: list
  elements: str
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run
from ansible_collections.kmetal.platform.plugins.module_utils._network import VPC_ARGS, vpc_reconcile


def main():
    run(argspec(**VPC_ARGS), vpc_reconcile)


if __name__ == "__main__":
    main()
