#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_profile
short_description: Assign add-on profiles to tenant clusters by label (Sveltos Profile and ClusterProfile)
version_added: 0.2.0
description:
  - A Sveltos profile (C(config.projectsveltos.io/v1beta1)) that deploys Helm charts and the objects of ConfigMaps,
    Secrets or Flux sources to the tenant clusters whose Cluster API C(Cluster) carries the labels of
    O(cluster_selector) - the labels M(kmetal.platform.tenant_cluster) puts on them (its C(labels) option,
    the tenant's C(kmetal.io/tenant)), from the inventory for a fleet. Change the profile and every matching cluster follows.
  - With O(tenant), a C(Profile) in the tenant's namespace - Sveltos matches it only against that namespace's clusters,
    so a tenant's profile never reaches another tenant. Without, a C(ClusterProfile) for platform-wide add-ons.
  - O(sync_mode=ContinuousWithDriftDetection) (the default) keeps the add-ons as the profile says - a tenant who
    removes or changes one gets it put back. Its drift-detection manager must run in the management cluster, where
    tenants cannot delete it (addon-controller#1119) - before any write the module reads Sveltos' C(addon-controller)
    Deployment and refuses when it runs without C(--agent-in-mgmt-cluster=true) (it warns when Sveltos is not installed).
  - A profile of the same name that this collection did not create, or another tenant's, is never taken over;
    O(state=absent) deletes only the collection's.
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: The profile's name.
    type: str
    required: true
  tenant:
    description: The tenant; the profile is then a C(Profile) in C(tenant-<tenant>). Omitted, a C(ClusterProfile).
    type: str
  state:
    description: Whether the profile should exist.
    type: str
    choices: [present, absent]
    default: present
  cluster_selector:
    description:
      - Labels of the tenant clusters the profile is for (C(clusterSelector.matchLabels)), for example C(kmetal.io/env=prod).
      - Required for a platform-wide profile (an empty selector would match every cluster Sveltos manages).
    type: dict
    default: {}
  helm_charts:
    description:
      - Sveltos C(helmCharts) entries (C(repositoryURL), C(repositoryName), C(chartName), C(chartVersion), C(releaseName),
        C(releaseNamespace), C(values)...).
    type: list
    elements: dict
    default: []
  policy_refs:
    description:
      - Sveltos C(policyRefs) entries (C(kind) ConfigMap, Secret, GitRepository, OCIRepository or Bucket; C(name); C(namespace)) whose objects are deployed.
      - A tenant's profile refers to objects of its own namespace only (the namespace defaults to it).
    type: list
    elements: dict
    default: []
  sync_mode:
    description: How Sveltos keeps the clusters in step.
    type: str
    choices: [ContinuousWithDriftDetection, Continuous, OneTime, DryRun]
    default: ContinuousWithDriftDetection
  tier:
    description: Sveltos' tier (a lower tier wins when two profiles deploy the same object).
    type: int
  continue_on_error:
    description: Deploy the other add-ons when one fails.
    type: bool
  labels:
    description: Extra labels on the profile.
    type: dict
    default: {}
  sveltos_namespace:
    description: Where Sveltos' addon-controller runs.
    type: str
    default: projectsveltos
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
  - module: kmetal.platform.tenant_cluster
"""

EXAMPLES = r"""
- name: Platform-wide - every kMetal tenant cluster gets the metrics server, kept there
  kmetal.platform.cluster_profile:
    name: metrics-server
    cluster_selector:
      app.kubernetes.io/managed-by: kmetal-platform
    helm_charts:
      - repositoryURL: https://kubernetes-sigs.github.io/metrics-server/
        repositoryName: metrics-server
        chartName: metrics-server/metrics-server
        chartVersion: 3.13.0
        releaseName: metrics-server
        releaseNamespace: kube-system
        helmChartAction: Install

- name: Tenant acme's prod clusters get its network policies from a ConfigMap of its namespace
  kmetal.platform.cluster_profile:
    name: policies
    tenant: acme
    cluster_selector:
      kmetal.io/env: prod
    policy_refs:
      - {kind: ConfigMap, name: acme-policies}
"""

RETURN = r"""
profile:
  description: The profile after the run (without managedFields and resourceVersion); null when absent.
  returned: always
  type: dict
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 3
"""

from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run
from ansible_collections.kmetal.platform.plugins.module_utils._profiles import PROFILE_ARGS, profile_reconcile


def main():
    run(argspec(**PROFILE_ARGS), profile_reconcile)


if __name__ == "__main__":
    main()
