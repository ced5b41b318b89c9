# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attributes every kmetal.platform Kubernetes module shares, and those of the read-only *_info modules.

List these fragments before ansible.builtin.action_common_attributes: when fragments give the same attribute, the one
merged first keeps its values (the builtin ones only add the descriptions)."""

from __future__ import annotations


class ModuleDocFragment(object):

    # Runs wherever Python reaches the API server, and belongs to the kmetal.platform.k8s action group (module_defaults).
    DOCUMENTATION = r"""
attributes:
  platform:
    platforms: all
  action_group:
    support: full
    membership: [kmetal.platform.k8s]
"""

    # The *_info modules only read.
    INFO = r"""
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
"""
