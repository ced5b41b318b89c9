#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant
short_description: Manage a kMetal tenant (namespace, quota, limits, admin RoleBinding)
version_added: 0.1.0
description:
  - A tenant is a namespace (C(tenant-<name>) by default) labelled C(kmetal.io/tenant=<name>), a ResourceQuota
    C(kmetal-tenant-quota) that also counts C(tenantcontrolplanes.kamaji.clastix.io), a LimitRange
    C(kmetal-tenant-limits), and a RoleBinding C(kmetal-tenant-admins) of the tenant's admin users and groups to
    the ClusterRole C(kmetal-cluster-manager).
  - Server-side apply with the field manager C(kmetal-platform); a run that would change nothing sends only reads.
  - O(state=absent) refuses to delete a tenant that still has Cluster API clusters in its namespace or Kube-OVN
    subnets labelled with it, unless O(force=true).
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: The tenant's name, a DNS-1123 label of at most 56 characters.
    type: str
    required: true
  namespace:
    description:
      - The tenant's namespace. Defaults to C(tenant-<name>).
      - A namespace that exists but was not created by this collection is refused unless O(adopt_namespace=true).
        A system namespace (C(default), C(kube-*), the platform's C(kmetal-*)) is always refused.
    type: str
  adopt_namespace:
    description:
      - Take over an existing O(namespace) that this collection did not create (add the tenant's labels, quota,
        limits and admins to it).
      - An adopted namespace is never deleted; O(state=absent) removes what the tenant added and leaves it.
    type: bool
    default: false
  state:
    description: Whether the tenant should exist.
    type: str
    choices: [present, absent]
    default: present
  labels:
    description: Extra labels on every object of the tenant (C(kmetal.io/tenant) and C(app.kubernetes.io/managed-by) are always set).
    type: dict
    default: {}
  quota:
    description:
      - The tenant's ResourceQuota. Values are Kubernetes quantities, an omitted one is not limited.
      - A quantity is a string (C(500m), C(16Gi)) or a number (C(64)), as in Kubernetes itself, hence C(type=raw);
        each is checked to be a quantity before any request.
    type: dict
    default: {}
    suboptions:
      cpu:
        description: Total CPU requests (C(requests.cpu)), e.g. C(64).
        type: raw
      memory:
        description: Total memory requests (C(requests.memory)), e.g. C(256Gi).
        type: raw
      storage:
        description: Total storage requests (C(requests.storage)), e.g. C(2Ti).
        type: raw
      pods:
        description: Number of pods.
        type: raw
      tenant_control_planes:
        description: Number of Kamaji TenantControlPlanes (C(count/tenantcontrolplanes.kamaji.clastix.io)).
        type: int
        default: 10
  limits:
    description: The container defaults and maxima of the tenant's LimitRange, as quantities (a string or a number, as in O(quota)).
    type: dict
    default: {}
    suboptions:
      default_cpu:
        description: Default CPU limit of a container.
        type: raw
        default: "1"
      default_memory:
        description: Default memory limit of a container.
        type: raw
        default: 1Gi
      default_request_cpu:
        description: Default CPU request of a container.
        type: raw
        default: 100m
      default_request_memory:
        description: Default memory request of a container.
        type: raw
        default: 128Mi
      max_cpu:
        description: Maximum CPU limit of a container.
        type: raw
      max_memory:
        description: Maximum memory limit of a container.
        type: raw
  admins:
    description:
      - The tenant's administrators, bound to O(cluster_role) in the tenant's namespace.
      - Omitted, the RoleBinding is left as it is; given with no users and no groups, it is removed.
    type: dict
    suboptions:
      users:
        description: User names.
        type: list
        elements: str
        default: []
      groups:
        description: Group names.
        type: list
        elements: str
        default: []
  cluster_role:
    description: The ClusterRole the admins are bound to.
    type: str
    default: kmetal-cluster-manager
  force:
    description:
      - With O(state=absent), delete the namespace even when the tenant still has clusters or subnets.
      - Only a namespace this collection created is ever deleted.
    type: bool
    default: false
  wait:
    description: With O(state=absent), wait until the namespace is gone.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for with O(wait=true).
    type: int
    default: 120
extends_documentation_fragment:
  - kmetal.platform._api
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
attributes:
  check_mode:
    support: full
    details: Writes are sent with C(dryRun=All); inside a namespace that does not exist yet the objects are predicted as given.
  diff_mode:
    support: full
seealso:
  - module: kmetal.platform.tenant_info
  - module: kmetal.platform.vpc
"""

EXAMPLES = r"""
- name: Tenant acme with a quota and its admins
  kmetal.platform.tenant:
    name: acme
    quota:
      cpu: "64"
      memory: 256Gi
      storage: 2Ti
      pods: "500"
      tenant_control_planes: 10
    admins:
      users: [alice@acme.example]
      groups: [acme-admins]

- name: Remove tenant acme even though clusters remain, and wait for the namespace to go
  kmetal.platform.tenant:
    name: acme
    state: absent
    force: true
    wait: true
"""

RETURN = r"""
namespace:
  description: The tenant's namespace.
  returned: always
  type: str
  sample: tenant-acme
labels:
  description: The namespace's labels after the run.
  returned: when O(state=present)
  type: dict
  sample: {"kmetal.io/tenant": "acme"}
objects:
  description: Each object the module managed and whether it changed.
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "Namespace", "name": "tenant-acme", "namespace": null, "changed": true}]
clusters:
  description: The tenant's clusters found when deleting it.
  returned: when O(state=absent) and the namespace existed
  type: list
  elements: str
subnets:
  description: The tenant's subnets found when deleting it.
  returned: when O(state=absent) and the namespace existed
  type: list
  elements: str
namespace_deleted:
  description: Whether the namespace was (or, in check mode, would be) deleted; false for an adopted one.
  returned: when O(state=absent)
  type: bool
undone:
  description: When the API server refused a write, the objects this run had created and then deleted again.
  returned: failure
  type: list
  elements: str
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 4
"""

from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run
from ansible_collections.kmetal.platform.plugins.module_utils._tenant import TENANT_ARGS, tenant_reconcile


def main():
    run(argspec(**TENANT_ARGS), tenant_reconcile)


if __name__ == "__main__":
    main()
