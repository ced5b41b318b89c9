# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The site's download table as the roles fetch it: the same computation as kmetal.platform.artifact_manifest,
so a node never fetches a file that the site's manifest does not list."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.kmetal.platform.plugins.module_utils._artifacts import ArtifactError, compute_files


def download_files(names, arch, kubernetes_version, versions, base_urls, checksums):
    """name -> {url, checksum (sha256:<hex>), version, path} for each of NAMES on ARCH; every problem in one message."""
    try:
        files = compute_files([arch], kubernetes_version, versions, base_urls, checksums, names=list(names), require_checksums=True)
    except ArtifactError as err:
        raise AnsibleFilterError(str(err)) from err
    return {f["name"]: {"url": f["url"], "checksum": "sha256:" + f["sha256"], "version": f["version"], "path": f["path"]} for f in files}


def untrusted_mirror(result, check_mode, mirror_ca_pem):
    """True for a download that failed only because a dry run on a fresh host does not trust the site mirror's CA
    yet (host_prep installs it earlier in the same real run): a predicted change, not an error."""
    return bool(check_mode and mirror_ca_pem and isinstance(result, dict)
                and "CERTIFICATE_VERIFY_FAILED" in str(result.get("msg", "")))


class FilterModule:
    def filters(self):
        return {"download_files": download_files, "untrusted_mirror": untrusted_mirror}
