#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_kubeconfig
short_description: Fetch a tenant cluster's admin kubeconfig to a file only its owner reads
version_added: 0.1.0
description:
  - Copies the admin kubeconfig Cluster API's control-plane provider writes for a tenant cluster (the Secret
    C(<name>-kubeconfig), key C(value), in the tenant's namespace) to O(dest) on the host the module runs on
    (the controller, with C(connection=local)).
  - The file is written atomically with O(mode) (0600 by default); a mode that lets group or others read it is
    refused. A re-run with the same content and mode changes nothing.
  - The kubeconfig is a cluster-admin credential; it is never returned or shown. C(--diff) shows the file's
    checksum and mode before and after.
  - With O(wait=true) (the default) the module waits for the Secret, which exists once the tenant's API answers.
author:
  - kMetal platform team (@kmetal)
options:
  name:
    description: The tenant cluster's name.
    type: str
    required: true
  tenant:
    description: The tenant; the cluster is in its namespace C(tenant-<tenant>). One of O(tenant) and O(namespace) is required.
    type: str
  namespace:
    description: The cluster's namespace, when it is not C(tenant-<tenant>).
    type: str
  dest:
    description: Where to write the kubeconfig. Missing directories are created with mode 0700.
    type: path
    required: true
  mode:
    description: The file's mode, octal. No bit for group or others is accepted.
    type: raw
    default: "0600"
  wait:
    description: Wait for the kubeconfig Secret (it appears when the tenant's API answers) instead of failing when it is not there yet.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the Secret.
    type: int
    default: 600
  probe:
    description:
      - Ask the tenant API for its version with the fetched kubeconfig (C(GET /version), its CA verifying the
        server), and whether the kubeconfig's user may list namespaces there (a C(SelfSubjectAccessReview), since a new
        control plane bootstraps its RBAC a moment after its API is up), waiting up to O(wait_timeout) when
        O(wait=true); the module fails when the API does not answer or does not let that user in.
      - A cluster put to sleep (its control plane at 0 replicas, see O(kmetal.platform.tenant_cluster#module:sleep)) has
        no API to ask. The module still writes the file, returns RV(sleeping=true) and asks nothing.
      - Turn it off when the host running the module cannot reach the tenants' API addresses.
    type: bool
    default: true
extends_documentation_fragment:
  - kmetal.platform._api
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
attributes:
  check_mode:
    support: full
    details: Reads the Secret and the file; reports whether it would write, writes nothing.
  diff_mode:
    support: full
    details: The file's sha256 and mode, never its content.
  platform:
    platforms: posix
seealso:
  - module: kmetal.platform.tenant_cluster
"""

EXAMPLES = r"""
- name: The admin kubeconfig of acme's cluster prod, once its API answers
  kmetal.platform.tenant_kubeconfig:
    name: prod
    tenant: acme
    dest: "{{ playbook_dir }}/kubeconfigs/acme-prod.kubeconfig"
  register: prod_kubeconfig

- name: Say which version the tenant's API answered with
  ansible.builtin.debug:
    msg: "acme/prod answers at {{ prod_kubeconfig.server }}: {{ prod_kubeconfig.version }}"
"""

RETURN = r"""
dest:
  description: The file written (or that would be written in check mode).
  returned: success
  type: str
  sample: /srv/kmetal/kubeconfigs/acme-prod.kubeconfig
server:
  description: The tenant API's URL in the kubeconfig.
  returned: success
  type: str
  sample: https://10.10.100.50:6443
secret:
  description: The Secret the kubeconfig was read from (namespace/name).
  returned: success
  type: str
  sample: tenant-acme/prod-kubeconfig
version:
  description: The tenant API's Kubernetes version (gitVersion), as it answered; with O(probe=true), not in check mode before the file exists.
  returned: when probed
  type: str
  sample: v1.34.4
sleeping:
  description: Whether the cluster is put to sleep (its control plane at 0 replicas), so that its API was not asked.
  returned: with O(probe=true)
  type: bool
  sample: false
mode:
  description: The file's mode.
  returned: success
  type: str
  sample: "0600"
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.kmetal.platform.plugins.module_utils._kubeconfig import KUBECONFIG_ARGS, fetch
from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run


def main():
    run(argspec(**KUBECONFIG_ARGS), fetch)


if __name__ == "__main__":
    main()
