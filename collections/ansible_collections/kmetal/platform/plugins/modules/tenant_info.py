#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_info
short_description: List kMetal tenants with their quota, admins and clusters
version_added: 0.1.0
description:
  - Lists the tenants (namespaces labelled C(kmetal.io/tenant)) with their quota (hard and used), admins and cluster names.
  - A fixed number of requests whatever the number of tenants (one LIST per kind).
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: Only this tenant.
    type: str
extends_documentation_fragment:
  - kmetal.platform._api
  - kmetal.platform._api.info
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
seealso:
  - module: kmetal.platform.tenant
"""

EXAMPLES = r"""
- name: All tenants, for a report or an AWX survey
  kmetal.platform.tenant_info:
  register: tenants

- name: One tenant
  kmetal.platform.tenant_info:
    name: acme
"""

RETURN = r"""
tenants:
  description: The tenants, sorted by namespace.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "acme", "namespace": "tenant-acme", "quota": {"hard": {"pods": "500"}, "used": {}},
            "admins": {"users": [], "groups": []}, "clusters": ["prod"]}]
names:
  description: The tenants' names.
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

from ansible_collections.kmetal.platform.plugins.module_utils._info import TENANT_INFO_ARGS, tenant_info
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**TENANT_INFO_ARGS), tenant_info)


if __name__ == "__main__":
    main()
