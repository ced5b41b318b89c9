#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_modules
short_description: Load kernel modules where the kernel can, and say why where it cannot
version_added: "0.1.0"
description:
  - Checks each kernel module (loaded, or built into the kernel) and loads the missing ones with C(modprobe).
  - A module that cannot be loaded is reported with the kernel's reason (no loadable module support, module not
    found for this kernel, module loading disabled) instead of failing, unless O(fail_on_unavailable=true).
  - Persisting the list across reboots (modules-load.d) is left to a file task, so it shows in C(--diff).
author:
  - kMetal platform team (@kmetal)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  names:
    description: Kernel module names (C(-) and C(_) are equivalent).
    type: list
    elements: str
    required: true
  fail_on_unavailable:
    description: Fail when a module is neither loaded, built in, nor loadable.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Load the modules KubeVirt and Kube-OVN need
  kmetal.platform.host_modules:
    names: [kvm, vhost_net, br_netfilter, overlay, openvswitch, geneve]
"""

RETURN = r"""
present:
  description: Modules already loaded or built into the kernel.
  returned: always
  type: list
  elements: str
loaded:
  description: Modules this run loaded (would load in check mode).
  returned: always
  type: list
  elements: str
unavailable:
  description: Modules that cannot be loaded here, each with the reason.
  returned: always
  type: dict
  sample: {geneve: "the kernel has no loadable module support (/proc/modules is missing) and geneve is not built in"}
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule


# What shows a module's feature is there even where /sys/module is hidden (containers): a device or a file.
EVIDENCE = {
    "kvm": "/dev/kvm",
    "vhost_net": "/dev/vhost-net",
    "tun": "/dev/net/tun",
    "br_netfilter": "/proc/sys/net/bridge",
    "bridge": "/proc/sys/net/bridge",
}


def _filesystems():
    try:
        with open("/proc/filesystems") as f:
            return {line.split()[-1] for line in f if line.strip()}
    except OSError:
        return set()


def _builtin(release):
    try:
        with open(f"/lib/modules/{release}/modules.builtin") as f:
            return {os.path.basename(line.strip()).split(".ko")[0].replace("-", "_") for line in f}
    except OSError:
        return set()


def main():
    module = AnsibleModule(
        argument_spec={"names": {"type": "list", "elements": "str", "required": True}, "fail_on_unavailable": {"type": "bool", "default": False}},
        supports_check_mode=True,
    )
    release = platform.release()
    builtin = _builtin(release)
    modular = os.path.exists("/proc/modules")
    modprobe = module.get_bin_path("modprobe")
    filesystems = _filesystems()
    sysmodule = os.path.isdir("/sys/module")
    present, loaded, unavailable = [], [], {}
    for name in module.params["names"]:
        key = name.replace("-", "_")
        if os.path.isdir(f"/sys/module/{key}") or key in builtin or key in filesystems or os.path.exists(EVIDENCE.get(key, "/nonexistent")):
            present.append(name)
        elif not modular:
            unavailable[name] = (
                f"the kernel {release} has no loadable module support (/proc/modules is missing) and shows no sign of {name} built in"
                + ("" if sysmodule else " (/sys/module is not visible here)")
            )
        elif modprobe is None:
            unavailable[name] = "modprobe is not installed (package kmod)"
        elif not os.path.isdir(f"/lib/modules/{release}"):
            unavailable[name] = f"/lib/modules/{release} is missing: no modules are installed for the running kernel"
        elif module.check_mode:
            loaded.append(name)
        else:
            rc, out, err = module.run_command([modprobe, name])
            if rc == 0:
                loaded.append(name)
            else:
                unavailable[name] = f"modprobe {name} failed: {(err or out).strip()}"
    result = {"changed": bool(loaded), "present": present, "loaded": loaded, "unavailable": unavailable}
    if unavailable:
        text = "; ".join(f"{n}: {r}" for n, r in unavailable.items())
        if module.params["fail_on_unavailable"]:
            module.fail_json(msg=f"kernel modules unavailable: {text}", **result)
        module.warn(f"kernel modules not loaded (persisted for the next boot): {text}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
