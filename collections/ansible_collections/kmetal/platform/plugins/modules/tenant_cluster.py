#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_cluster
short_description: Manage a tenant's Cluster API cluster over the kubevirt-kubeadm ClusterClass
version_added: 0.1.0
description:
  - A C(cluster.x-k8s.io/v1beta2) C(Cluster) in the tenant's namespace whose topology refers to the ClusterClass
    O(class_name) in O(class_namespace), with the kMetal topology variables C(controlPlane), C(machineSize),
    C(bootstrapConfig) and C(network), and worker machine deployments with fixed replicas or autoscaler bounds.
  - When a write is needed and the ClusterClass exists, the variables are checked against its declared variable
    schemas (C(spec.variables[].schema.openAPIV3Schema)) before the write; unknown variables are an error.
  - Optionally waits for the cluster's conditions (C(Available), C(ControlPlaneReady)...).
  - O(sleep=true) puts the hosted control plane to sleep (control-plane replicas 0; Kamaji reports the tenant
    control plane C(Sleeping)) and keeps the replica count it had in the Cluster's C(kmetal.io/wake-replicas)
    annotation. O(sleep=false) wakes it to that count (or to O(control_plane.replicas) when given), not to a default.
    Left out, a sleeping cluster stays asleep, so a re-run of an inventory never wakes a cluster by accident.
  - A version change is checked before any write - refused while the cluster sleeps ("wake it first"), when it is a
    downgrade, when it skips a minor version, and when the version is not in O(available_versions) or in the
    platform's artifact manifest (O(artifact_manifest)). The upgrade is Kamaji's blue/green rollout of the control
    plane (a new Deployment revision with maxSurge 100%, the old pods kept until the new ones are ready); with
    O(wait=true) the module waits until the control plane reports the new version and returns the seconds it took
    in RV(upgrade.seconds).
  - What happens to the workers - Cluster API's topology controller upgrades the control plane first; once it runs
    the new version, each worker machine deployment rolls out new KubeVirt VMs of the new version (its rollout
    strategy, by default one VM more at a time, none unavailable) and deletes the old ones after draining them. The
    worker boot image (the chart's C(tenants.defaults.workerImage)) must carry a kubelet the new control plane
    accepts (at most three minors older). The module does not wait for the workers unless O(wait_for) names
    C(WorkersAvailable).
  - O(state=absent) deletes the cluster and can wait until it is gone.
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: The cluster's name, a DNS-1123 label.
    type: str
    required: true
  tenant:
    description: The tenant; the namespace defaults to C(tenant-<tenant>) and the cluster is labelled with it.
    type: str
  namespace:
    description: The cluster's namespace. One of O(namespace) and O(tenant) is required.
    type: str
  state:
    description: Whether the cluster should exist.
    type: str
    choices: [present, absent]
    default: present
  class_name:
    description: The ClusterClass.
    type: str
    default: kubevirt-kubeadm
  class_namespace:
    description: The ClusterClass's namespace.
    type: str
    default: kmetal-capi-providers
  version:
    description: The tenant cluster's Kubernetes version, e.g. C(v1.34.1). Required with O(state=present).
    type: str
  control_plane:
    description: The Kamaji control plane (C(controlPlane) variable and the topology's control-plane replicas).
    type: dict
    default: {}
    suboptions:
      replicas:
        description:
          - Control-plane replicas, 0 to 9 (0 puts the tenant control plane to sleep, as O(sleep=true)).
          - With O(sleep=true), the count to wake to; with O(sleep=false), the count to wake to instead of the kept one.
          - Left out, a count this collection wrote earlier (a wake) is kept, not dropped.
        type: int
      data_store_name:
        description:
          - The Kamaji DataStore. It must exist (or be the one O(datastore) creates in the same run); a missing one is
            refused before any write, naming the DataStores the platform has.
        type: str
        default: default
      cert_sans:
        description: Extra names and addresses in the API server's certificate.
        type: list
        elements: str
      service_address:
        description: The control plane's service address (a MetalLB VIP).
        type: str
      service_type:
        description: The control plane's service type.
        type: str
        choices: [LoadBalancer, NodePort, ClusterIP]
  machine_size:
    description: The C(machineSize) variable (e.g. C(small)).
    type: str
  bootstrap_server_address:
    description: The C(bootstrapConfig.serverAddress) variable, the address workers connect to.
    type: str
  subnet:
    description: The C(network.subnet) variable, the Kube-OVN subnet of the cluster.
    type: str
  pod_cidrs:
    description: The cluster's pod networks (C(clusterNetwork.pods.cidrBlocks)).
    type: list
    elements: str
  service_cidrs:
    description: The cluster's service networks (C(clusterNetwork.services.cidrBlocks)); must not overlap O(pod_cidrs).
    type: list
    elements: str
  workers:
    description: Worker machine deployments.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The machine deployment's name.
        type: str
        required: true
      class:
        description: The ClusterClass worker class.
        type: str
        default: default-worker
      replicas:
        description: Fixed number of workers (1 when neither this nor the autoscaler bounds are given).
        type: int
      min_size:
        description:
          - Autoscaler lower bound (then replicas is left to the autoscaler - the module never writes it, so a re-run
            after the autoscaler scaled the machine deployment changes nothing).
          - 0 lets the autoscaler scale the machine deployment from zero; the module then writes the capacity the
            autoscaler cannot read from a node that does not exist (C(capacity.cluster-autoscaler.kubernetes.io/cpu),
            C(memory), C(ephemeral-disk), C(gpu-type), C(gpu-count), C(maxPods)) from the machine size (the worker class
            when it names a size, else O(machine_size); sizes from O(machine_sizes)) and O(workers[].capacity).
        type: int
      max_size:
        description: Autoscaler upper bound.
        type: int
      capacity:
        description: The capacity of one machine for scaling from zero (O(workers[].min_size=0)), over the machine size's.
        type: dict
        suboptions:
          cpu:
            description: CPUs, a quantity (e.g. C(4)).
            type: str
          memory:
            description: Memory, a quantity (e.g. C(8Gi)).
            type: str
          ephemeral_disk:
            description: Ephemeral disk, a quantity.
            type: str
          max_pods:
            description: Pods per node.
            type: int
          gpu_type:
            description: The GPU resource name (e.g. C(nvidia.com/gpu)).
            type: str
          gpu_count:
            description: GPUs per machine.
            type: int
  variables:
    description: Further ClusterClass variables, name to value.
    type: dict
    default: {}
  labels:
    description: Extra labels on the Cluster.
    type: dict
    default: {}
  wait:
    description: With O(state=present), wait until the conditions of O(wait_for) are C(True); with O(state=absent), until the cluster is gone.
    type: bool
    default: false
  wait_for:
    description: The conditions to wait for.
    type: list
    elements: str
    choices: [Available, ControlPlaneReady, ControlPlaneAvailable, WorkersAvailable]
    default: [Available]
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
  datastore:
    description:
      - The tenant's own Kamaji DataStore, created by the module (before the Cluster) and referenced by the cluster's
        C(controlPlane.dataStoreName) - a dedicated etcd per tenant, so that its backups and restores touch no other
        tenant (etcd cannot back up one key prefix alone).
      - The etcd itself is the kMetal chart's (values C(datastores.dedicated), one entry per tenant, which the platform
        role fills from the inventory's tenants with a C(datastore)); the DataStore points at its pods
        (C(<name>-etcd-<i>.<name>-etcd.<namespace>.svc.cluster.local:2379)) and at the cert-manager secrets the chart
        makes (C(<name>-etcd-ca), C(<name>-etcd-root-client)).
      - A DataStore of that name that this collection did not create, or another tenant's, is refused.
    type: dict
    suboptions:
      name:
        description: The DataStore's name (default the cluster's namespace, C(tenant-<tenant>), shared by the tenant's clusters).
        type: str
      replicas:
        description: etcd members, an odd number from 1 to 7 (as in the chart's entry).
        type: int
        default: 3
      namespace:
        description: Where the chart runs the dedicated etcd and its secrets (the kMetal release's namespace).
        type: str
        default: kmetal-flux
  sleep:
    description:
      - V(true) puts the control plane to sleep (replicas 0), keeping the replica count to wake to on the Cluster
        (annotation C(kmetal.io/wake-replicas)); V(false) wakes it to that count.
      - Left out, the cluster's sleep state is kept as it is.
      - With O(wait=true), a sleep waits until the control plane reports C(Sleeping) (Kamaji's TenantControlPlane, or
        the KamajiControlPlane with no replicas), not for O(wait_for).
    type: bool
  artifact_manifest:
    description:
      - The platform's artifact manifest (the JSON the C(kmetal.platform.artifacts) playbook writes,
        C(artifacts_manifest_path)). A new version must be one it holds tenant images for (the images with source
        C(runtime:kamaji-tenant <version>)).
      - With neither this nor O(available_versions), the version is not checked against a list.
    type: path
  available_versions:
    description: The tenant Kubernetes versions this platform can run, instead of O(artifact_manifest).
    type: list
    elements: str
  machine_sizes:
    description:
      - The ClusterClass's machine sizes, name to C({cores, memory, disk, gpus}), for the scale-from-zero capacity.
      - Omitted, the chart's default sizes (C(small) 2 cores 4Gi, C(medium) 4 cores 8Gi, C(large) 8 cores 16Gi); a site
        with its own C(kmetal_machine_sizes) passes them here.
    type: dict
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
  - module: kmetal.platform.tenant_cluster_info
"""

EXAMPLES = r"""
- name: Cluster prod of tenant acme, workers autoscaled
  kmetal.platform.tenant_cluster:
    name: prod
    tenant: acme
    version: v1.34.1
    control_plane:
      replicas: 2
      cert_sans: [prod.acme.example]
      service_address: 192.168.10.50
      service_type: LoadBalancer
    machine_size: small
    bootstrap_server_address: 192.168.10.50
    subnet: acme-prod
    pod_cidrs: [10.244.0.0/16]
    service_cidrs: [10.95.0.0/16]
    workers:
      - name: md-0
        min_size: 1
        max_size: 5
      - name: batch        # scales to zero when idle; its capacity comes from the large size
        class: large
        min_size: 0
        max_size: 10
    wait: true
    wait_for: [ControlPlaneReady]

- name: Cluster prod of tenant acme on the tenant's own etcd (the chart runs it; see datastores.dedicated)
  kmetal.platform.tenant_cluster:
    name: prod
    tenant: acme
    version: v1.34.1
    datastore:
      replicas: 3            # DataStore tenant-acme, controlPlane.dataStoreName tenant-acme

- name: Put the idle cluster dev to sleep (its control-plane replica count is kept on the Cluster)
  kmetal.platform.tenant_cluster:
    name: dev
    tenant: acme
    version: v1.34.1
    sleep: true

- name: Wake it, to the replica count it had
  kmetal.platform.tenant_cluster:
    name: dev
    tenant: acme
    version: v1.34.1
    sleep: false

- name: Upgrade prod one minor, checked against the platform's artifacts, and time the control plane's rollout
  kmetal.platform.tenant_cluster:
    name: prod
    tenant: acme
    version: v1.35.0
    artifact_manifest: "{{ inventory_dir }}/artifacts/manifest.json"
    wait: true
    wait_for: [ControlPlaneAvailable]
  register: upgraded   # upgraded.upgrade.seconds: how long the control plane took to run v1.35.0

- name: Delete it and wait until it is gone
  kmetal.platform.tenant_cluster:
    name: prod
    tenant: acme
    state: absent
    wait: true
"""

RETURN = r"""
cluster:
  description: The Cluster after the run (without managedFields and resourceVersion); null when absent.
  returned: always
  type: dict
summary:
  description: Name, namespace, tenant, version, phase and condition statuses of the cluster.
  returned: when O(state=present)
  type: dict
  sample: {"name": "prod", "namespace": "tenant-acme", "phase": "Provisioned", "conditions": {"Available": "True"},
           "sleeping": false, "wake_replicas": null}
datastore:
  description: The tenant's DataStore after the run, with O(datastore).
  returned: with O(datastore)
  type: dict
upgrade:
  description: The version change of this run (C(from), C(to)) and, with O(wait=true), the C(seconds) until the control plane reported C(to).
  returned: when the version changed
  type: dict
  sample: {"from": "v1.34.1", "to": "v1.35.0", "seconds": 16.2}
  contains:
    from:
      description: The version before the run.
      type: str
      returned: always
    to:
      description: The version of this run.
      type: str
      returned: always
    seconds:
      description: Seconds from the write until the control plane reported the new version.
      type: float
      returned: with O(wait=true)
control_plane:
  description:
    - What the control plane reported at the end of a wait for sleep or an upgrade - the KamajiControlPlane's name, the
      version it runs, Kamaji's status (C(Sleeping), C(Ready), C(Upgrading)...), its replicas and ready replicas.
  returned: with O(wait=true), when the cluster went to sleep or changed version
  type: dict
  sample: {"kind": "KamajiControlPlane", "name": "prod-x7k2p", "version": "v1.35.0", "status": "Ready", "replicas": 2, "ready_replicas": 2}
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.kmetal.platform.plugins.module_utils._cluster import CLUSTER_ARGS, cluster_reconcile
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**CLUSTER_ARGS), cluster_reconcile)


if __name__ == "__main__":
    main()
