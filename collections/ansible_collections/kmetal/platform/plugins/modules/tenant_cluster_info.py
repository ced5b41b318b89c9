#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_cluster_info
short_description: List tenants' Cluster API clusters and their conditions
version_added: 0.1.0
description:
  - Lists C(cluster.x-k8s.io/v1beta2) Clusters in one namespace (or a tenant's) or in all namespaces, with a summary of each (phase, conditions).
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: Only this cluster.
    type: str
  tenant:
    description: Only the clusters in C(tenant-<tenant>).
    type: str
  namespace:
    description: Only the clusters in this namespace.
    type: str
extends_documentation_fragment:
  - kmetal.platform._api
  - kmetal.platform._api.info
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
seealso:
  - module: kmetal.platform.tenant_cluster
"""

EXAMPLES = r"""
- name: The clusters of tenant acme
  kmetal.platform.tenant_cluster_info:
    tenant: acme
  register: clusters

- name: Every tenant cluster
  kmetal.platform.tenant_cluster_info:
"""

RETURN = r"""
clusters:
  description: The Cluster objects (without managedFields), sorted by namespace and name.
  returned: always
  type: list
  elements: dict
summaries:
  description: Name, namespace, tenant, version, phase and condition statuses of each cluster.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "prod", "namespace": "tenant-acme", "phase": "Provisioned", "conditions": {"Available": "True"}}]
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 2
"""

from ansible_collections.kmetal.platform.plugins.module_utils._info import CLUSTER_INFO_ARGS, cluster_info
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**CLUSTER_INFO_ARGS), cluster_info)


if __name__ == "__main__":
    main()
