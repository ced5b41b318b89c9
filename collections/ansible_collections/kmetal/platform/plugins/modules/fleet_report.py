#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: fleet_report
short_description: Draw the tenants, VPCs, subnets and clusters of a kMetal platform as SVG and HTML
version_added: 0.1.0
description:
  - Reads every tenant (namespaces labelled C(kmetal.io/tenant)), their Kube-OVN VPCs, subnets and VLANs, and their
    Cluster API clusters, with one LIST request per kind whatever the fleet's size.
  - Draws them left to right, tenant -> VPC -> subnet -> cluster, with each subnet's CIDR, gateway and VLAN id and
    each cluster's Kubernetes version and status, using Graphviz's C(dot).
  - Writes an SVG and a self-contained HTML page (the SVG inline, and the same facts as a table; nothing to fetch).
  - A fleet without tenants gives a page that says so.
  - Files are written only when their content differs, so a re-run on an unchanged fleet reports no change.
author:
  - kMetal platform team (@kmetal)
requirements:
  - graphviz (the Python package) and Graphviz's C(dot) program on the controller (Debian package C(graphviz)).
options:
  svg_path:
    description: Where to write the SVG. Its directory must exist. At least one of O(svg_path) and O(html_path) is required.
    type: path
  html_path:
    description: Where to write the HTML page. Its directory must exist.
    type: path
  title:
    description: The picture's and the page's title.
    type: str
    default: kMetal fleet
  mode:
    description: The files' permissions, as an octal string.
    type: str
    default: "0644"
extends_documentation_fragment:
  - kmetal.platform._api
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
  - kmetal.platform._auth
attributes:
  check_mode:
    support: full
    details: Reads and draws in memory, writes nothing, and reports in RV(would_write) which files would change.
  diff_mode:
    support: none
seealso:
  - module: kmetal.platform.tenant_info
  - module: kmetal.platform.subnet_info
  - module: kmetal.platform.tenant_cluster_info
"""

EXAMPLES = r"""
- name: The fleet as a picture and a page
  kmetal.platform.fleet_report:
    kubeconfig: ~/.kube/kmetal-admin.conf
    svg_path: /srv/www/fleet.svg
    html_path: /srv/www/fleet.html
    title: kMetal fleet, site fra1
"""

RETURN = r"""
written:
  description: The files written in this run (those whose content changed).
  returned: always
  type: list
  elements: str
would_write:
  description: In check mode, the files a run would write.
  returned: check mode
  type: list
  elements: str
counts:
  description: How many tenants, VPCs, subnets and clusters the report shows.
  returned: always
  type: dict
  sample: {tenants: 2, vpcs: 2, subnets: 3, clusters: 1}
fleet:
  description: What was drawn, per tenant its VPCs, their subnets (CIDR, gateway, VLAN) and the clusters in each.
  returned: always
  type: list
  elements: dict
api_requests:
  description: How many HTTP requests the module sent to the API server.
  returned: always
  type: int
  sample: 7
"""

from ansible_collections.kmetal.platform.plugins.module_utils._module import argspec, run
from ansible_collections.kmetal.platform.plugins.module_utils._report import REPORT_ARGS, report


def main():
    run(argspec(**REPORT_ARGS), report)


if __name__ == "__main__":
    main()
