#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_sysctl
short_description: Apply kernel parameters at runtime, and say why one cannot be applied
version_added: "0.1.0"
description:
  - Compares each setting with C(/proc/sys) and writes the ones that differ.
  - A setting the host cannot take is reported with the reason (the key does not exist because a kernel feature
    or module is missing, or C(/proc/sys) is read-only as in a container) instead of failing, unless
    O(fail_on_unapplied=true).
  - Persisting the settings (sysctl.d) is left to a file task, so it shows in C(--diff).
author:
  - kMetal platform team (@kmetal)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
options:
  settings:
    description: Kernel parameters, in dotted form (C(net.ipv4.ip_forward)), and their values.
    type: dict
    required: true
  fail_on_unapplied:
    description: Fail when a setting cannot be applied.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Forwarding and watch limits
  kmetal.platform.host_sysctl:
    settings:
      net.ipv4.ip_forward: 1
      fs.inotify.max_user_watches: 1048576
"""

RETURN = r"""
applied:
  description: Settings this run wrote (would write in check mode), with their new values.
  returned: always
  type: dict
unapplied:
  description: Settings the host cannot take, each with the reason.
  returned: always
  type: dict
"""

import errno

from ansible.module_utils.basic import AnsibleModule


def _path(key):
    return "/proc/sys/" + key.replace(".", "/")


def _norm(value):
    return " ".join(str(value).split())


def main():
    module = AnsibleModule(
        argument_spec={"settings": {"type": "dict", "required": True}, "fail_on_unapplied": {"type": "bool", "default": False}},
        supports_check_mode=True,
    )
    applied, unapplied, before, after = {}, {}, {}, {}
    for key, value in sorted(module.params["settings"].items()):
        want = _norm(value)
        try:
            with open(_path(key)) as f:
                have = _norm(f.read())
        except FileNotFoundError:
            unapplied[key] = f"{_path(key)} does not exist: the kernel feature or module behind it is missing"
            continue
        except OSError as err:
            unapplied[key] = f"cannot read {_path(key)}: {err.strerror}"
            continue
        if have == want:
            continue
        if not module.check_mode:
            try:
                with open(_path(key), "w") as f:
                    f.write(want)
            except OSError as err:
                if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    unapplied[key] = f"{_path(key)} is read-only here ({err.strerror}; a container shares this setting with its host)"
                else:
                    unapplied[key] = f"writing {want} to {_path(key)} failed: {err.strerror}"
                continue
        applied[key] = want
        before[key], after[key] = have, want
    result = {"changed": bool(applied), "applied": applied, "unapplied": unapplied}
    if module._diff and applied:
        result["diff"] = {
            "before": "".join(f"{k} = {v}\n" for k, v in before.items()),
            "after": "".join(f"{k} = {v}\n" for k, v in after.items()),
            "before_header": "/proc/sys (runtime)",
            "after_header": "/proc/sys (runtime)",
        }
    if unapplied:
        text = "; ".join(f"{k}: {r}" for k, r in unapplied.items())
        if module.params["fail_on_unapplied"]:
            module.fail_json(msg=f"kernel parameters not applied: {text}", **result)
        module.warn(f"kernel parameters not applied now (persisted for the next boot): {text}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
