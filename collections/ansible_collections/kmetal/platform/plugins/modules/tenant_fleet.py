#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_fleet
short_description: Reconcile a whole fleet of kMetal tenants in one call
version_added: 0.1.0
description:
  - Takes the tenants role's list (the inventory's C(kmetal_tenants)) and reconciles every tenant's namespace, quota,
    limits and admins, its Kube-OVN VPC, its subnets and its Cluster API clusters in one module call, with the
    objects the M(kmetal.platform.tenant), M(kmetal.platform.vpc), M(kmetal.platform.subnet) and
    M(kmetal.platform.tenant_cluster) modules would build from the same entries.
  - Every entry goes through those modules' own argument specs and validation before any request; the problems of
    all entries are reported together, each named by its tenant and field, and then nothing is sent.
  - Then one LIST per kind reads the cluster, the checks of the modules run for every object (namespace and VPC
    owned by another tenant, immutable subnet fields, subnet overlap inside a VPC, ClusterClass variable schemas),
    and only the objects that differ are written (server-side apply, field manager C(kmetal-platform)). A fleet
    that needs no change costs one request per kind, whatever its size.
  - An entry with C(state=absent) removes the tenant in dependency order with the per-item modules' guards - its
    clusters (waited for until gone, up to O(wait_timeout)), then its subnets once no address is in use, then its
    VPC, then its namespace (only one this collection created; an adopted namespace is released, never deleted).
    Only objects carrying the collection's C(app.kubernetes.io/managed-by) label and the tenant's label are deleted.
  - With O(prune=true), tenants that carry those labels but are not in O(tenants) are removed the same way;
    more than O(prune_max) is refused before any write, and check mode lists what would go.
  - Tenants are written up to O(workers) at a time, each in dependency order, with the same retry rules. One
    tenant's failure does not stop the others unless O(fail_fast=true); a tenant whose write the API server refuses
    is undone (what the run created of it is deleted).
  - Requests of a run that changes nothing - one LIST per kind, paged by 500 - 7 kinds for tenants with a VPC, a
    subnet and a cluster (C(ceil(N/500)) pages each for N tenants; the Namespace, Vpc and Subnet LISTs cover every
    such object of the cluster, not only the fleet's); plus one GET of each ClusterClass when a cluster is written,
    and the IP LIST when tenants are removed or pruned.
author:
  - kMetal platform team (@kmetal)
options:
  tenants:
    description:
      - The tenants, in the shape of the inventory's C(kmetal_tenants) (see the tenants role).
      - Each entry has C(name) (required) and optionally C(namespace), C(labels), C(quota), C(limits), C(admins) (as in
        M(kmetal.platform.tenant)), C(vpc) (C(name), C(namespaces), C(platform_cidrs), C(static_routes),
        C(policy_routes), C(enable_external), C(external_next_hop), as in M(kmetal.platform.vpc)), C(subnets) (a list of
        M(kmetal.platform.subnet) options C(name), C(cidr), C(vpc), C(gateway), C(exclude_ips), C(mode), C(vlan),
        C(nat_outgoing), C(private), C(allow_subnets), C(namespaces), C(mtu)) and C(clusters) (a list of
        M(kmetal.platform.tenant_cluster) options C(name), C(class_name), C(class_namespace), C(version),
        C(control_plane), C(machine_size), C(bootstrap_server_address), C(subnet), C(pod_cidrs), C(service_cidrs),
        C(workers), C(variables), C(sleep), C(labels) - the Cluster's labels, which fleet profiles select, see
        M(kmetal.platform.cluster_profile)).
      - A tenant's C(datastore) (C(name), C(replicas), C(namespace), as M(kmetal.platform.tenant_cluster)'s C(datastore) option;
        other keys, such as C(backup), are the chart's) gives all its clusters the tenant's own DataStore.
      - An unknown key is an error, not ignored.
      - C(adopt_namespace) as in M(kmetal.platform.tenant) - an existing namespace this collection did not create is
        refused without it.
      - C(state) C(present) (the default) or C(absent); an absent entry may keep its other keys and add C(force)
        (remove even what is still in use).
      - Give either O(tenants) or O(tenants_file).
    type: list
    elements: dict
  tenants_file:
    description:
      - A YAML or JSON file on the host running the module holding the same list (or a mapping whose one key holds
        it, such as C(kmetal_tenants:)), read by the module itself with libyaml.
      - For large fleets - for 1,000 tenants, ansible-core's own loading of inventory variables and their copy to the
        task's worker take longer than the module's whole run.
    type: path
  platform_cidrs:
    description: Platform networks every tenant VPC drops traffic to, before each tenant's own C(vpc.platform_cidrs).
    type: list
    elements: str
    default: []
  platform_drop_priority:
    description: Priority of those drop policy routes in each VPC (0-32767).
    type: int
    default: 31000
  class_name:
    description: The ClusterClass of a tenant cluster that gives none.
    type: str
    default: kubevirt-kubeadm
  class_namespace:
    description: The ClusterClass's namespace for a tenant cluster that gives none.
    type: str
    default: kmetal-capi-providers
  cluster_version:
    description: Kubernetes version of a tenant cluster that gives none.
    type: str
    default: v1.34.1
  machine_size:
    description: Machine size of a tenant cluster that gives none; omitted, the cluster sets no C(machineSize) variable.
    type: str
  wait:
    description: After the writes, wait for every cluster of the fleet to have the conditions O(wait_for) True.
    type: bool
    default: false
  wait_for:
    description: The conditions to wait for with O(wait=true).
    type: list
    elements: str
    choices: [Available, ControlPlaneReady, ControlPlaneAvailable, WorkersAvailable]
    default: [Available]
  wait_timeout:
    description: Seconds to wait for the whole fleet with O(wait=true), and for a removed tenant's clusters to go.
    type: int
    default: 900
  prune:
    description: Remove the tenants that carry this collection's labels but are not in O(tenants).
    type: bool
    default: false
  prune_max:
    description: Refuse, before any write, a prune that would remove more tenants than this (a typo must not wipe a fleet).
    type: int
    default: 5
  prune_selector:
    description:
      - With O(prune=true), only tenants whose namespace also carries these labels are candidates, as equality terms
        C(KEY=VALUE) separated by commas (give the fleet's tenants such a label with their C(labels) key).
      - Omitted, every tenant of the cluster with the collection's labels is a candidate, also one whose namespace is
        gone but whose VPC, subnets or clusters remain.
    type: str
  fail_fast:
    description: Stop at the first failing tenant (a check that refuses stops the run before any write).
    type: bool
    default: false
  workers:
    description: Tenants written at the same time.
    type: int
    default: 8
  artifact_manifest:
    description: The version guard's artifact manifest for every cluster, as M(kmetal.platform.tenant_cluster)'s O(artifact_manifest).
    type: path
  available_versions:
    description: The version guard's versions for every cluster, as M(kmetal.platform.tenant_cluster)'s O(available_versions).
    type: list
    elements: str
  machine_sizes:
    description: The machine sizes for every cluster's scale-from-zero capacity, as M(kmetal.platform.tenant_cluster)'s O(machine_sizes).
    type: dict
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
  - module: kmetal.platform.tenant
  - module: kmetal.platform.vpc
  - module: kmetal.platform.subnet
  - module: kmetal.platform.tenant_cluster
"""

EXAMPLES = r"""
- name: A large fleet kept in a data file of its own
  kmetal.platform.tenant_fleet:
    kubeconfig: ~/.kube/kmetal
    tenants_file: "{{ inventory_dir }}/tenants/fleet.yml"

- name: All tenants of the inventory in one call
  kmetal.platform.tenant_fleet:
    kubeconfig: ~/.kube/kmetal
    tenants: "{{ kmetal_tenants }}"
    platform_cidrs: [10.96.0.0/12, 192.168.10.0/24]
    machine_size: small

- name: Two tenants, each with a VPC, a subnet and a cluster
  kmetal.platform.tenant_fleet:
    tenants:
      - name: acme
        quota: {cpu: "64", memory: 256Gi}
        admins: {users: [alice@acme.example]}
        subnets:
          - {name: acme-prod, cidr: [10.200.0.0/24]}
        clusters:
          - name: prod
            subnet: acme-prod
            bootstrap_server_address: 203.0.113.50
            workers: [{name: md-0, replicas: 2}]
      - name: globex
        subnets:
          - {name: globex-prod, cidr: [10.200.0.0/24]}
"""

RETURN = r"""
tenants:
  description: The names of the tenants reconciled.
  returned: always
  type: list
  elements: str
  sample: [acme, globex]
objects:
  description: How many objects the fleet declares.
  returned: always
  type: int
  sample: 12
changed_objects:
  description: The objects written (or, in check mode, that would be), as C(Kind namespace/name).
  returned: always
  type: list
  elements: str
  sample: ["Namespace tenant-acme", "Subnet acme-prod"]
written:
  description:
    - The objects this run wrote (not in check mode), as C(Kind namespace/name); also on failure, where C(changed)
      is true when anything was written before it.
  returned: always
  type: list
  elements: str
uncertain:
  description: On failure, the objects whose write was sent but never answered (the API went away); they may have been written.
  returned: failure
  type: list
  elements: str
tenant_results:
  description:
    - Per tenant, C(name) and C(status) - C(created), C(changed), C(unchanged), C(removed), C(pruned), C(failed) with
      C(reason), or C(not reached) after a failure with O(fail_fast=true).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "acme", "status": "created"}]
diff:
  description: One before/after entry per changed object.
  returned: with C(--diff)
  type: list
  elements: dict
pruned:
  description: The tenants a refused prune would have removed.
  returned: when O(prune_max) refused the prune
  type: list
  elements: str
problems:
  description: Every problem found, when the input or the checks refused the fleet.
  returned: failure
  type: list
  elements: str
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 8
"""

from ansible_collections.kmetal.platform.plugins.module_utils._fleet import FLEET_ARGS, fleet_reconcile
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**FLEET_ARGS), fleet_reconcile, required_one_of=[["tenants", "tenants_file"]], mutually_exclusive=[["tenants", "tenants_file"]])


if __name__ == "__main__":
    main()
