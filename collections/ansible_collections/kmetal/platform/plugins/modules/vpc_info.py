#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: vpc_info
short_description: List tenants' Kube-OVN VPCs
version_added: 0.1.0
description:
  - Lists Kube-OVN C(Vpc) objects, optionally only one tenant's or one by name.
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: Only this VPC.
    type: str
  tenant:
    description: Only the VPCs labelled with this tenant.
    type: str
extends_documentation_fragment:
  - kmetal.platform._api
  - kmetal.platform._api.info
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
seealso:
  - module: kmetal.platform.vpc
"""

EXAMPLES = r"""
- name: The VPCs of tenant acme
  kmetal.platform.vpc_info:
    tenant: acme
  register: vpcs
"""

RETURN = r"""
vpcs:
  description: The Vpc objects (without managedFields), sorted by name.
  returned: always
  type: list
  elements: dict
names:
  description: Their names.
  returned: always
  type: list
  elements: str
  sample: [acme]
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 2
"""

from ansible_collections.kmetal.platform.plugins.module_utils._info import VPC_INFO_ARGS, vpc_info
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**VPC_INFO_ARGS), vpc_info)


if __name__ == "__main__":
    main()
