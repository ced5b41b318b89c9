#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: subnet_info
short_description: List Kube-OVN subnets by VPC or tenant
version_added: 0.1.0
description:
  - Lists Kube-OVN C(Subnet) objects, filtered by name, VPC or tenant, with their status (addresses in use).
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: Only this subnet.
    type: str
  vpc:
    description: Only the subnets of this VPC.
    type: str
  tenant:
    description: Only the subnets labelled with this tenant.
    type: str
extends_documentation_fragment:
  - kmetal.platform._api
  - kmetal.platform._api.info
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
seealso:
  - module: kmetal.platform.subnet
"""

EXAMPLES = r"""
- name: The subnets of VPC acme
  kmetal.platform.subnet_info:
    vpc: acme
  register: subnets
"""

RETURN = r"""
subnets:
  description: The Subnet objects (without managedFields), sorted by name.
  returned: always
  type: list
  elements: dict
names:
  description: Their names.
  returned: always
  type: list
  elements: str
  sample: [acme-prod]
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 2
"""

from ansible_collections.kmetal.platform.plugins.module_utils._info import SUBNET_INFO_ARGS, subnet_info
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**SUBNET_INFO_ARGS), subnet_info)


if __name__ == "__main__":
    main()
