#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: artifact_manifest
short_description: Compute everything a kMetal site downloads (files, images, charts, packages)
version_added: "0.1.0"
description:
  - Runs on the controller and only reads. From the site's versions, architectures, download table and enabled
    components it lists each release file with its URL under the site's base URL and its pinned sha256, each
    container image by exact reference, each chart and each Debian package the roles install.
  - The control plane's images come from the real C(kubeadm config images list); the charts' images from the real
    C(helm template) of the umbrella chart with the site's values, walking every C(image) field of every rendered
    object (containers, init and ephemeral containers, custom resources) and every C(docker://) URL.
  - Bad input (an unknown architecture, a file version without a pinned checksum, a missing or too old kubeadm)
    fails naming the field and the fix.
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
  architectures:
    description: CPU architectures of the site's servers.
    type: list
    elements: str
    default: [amd64]
  kubernetes_version:
    description: The under cluster's Kubernetes version (kubeadm, kubelet, kubectl and the control-plane images).
    type: str
    required: true
  download_versions:
    description: Versions of the other files (keys C(crictl), C(cni_plugins), C(containerd), C(runc)).
    type: dict
    default: {}
  download_base_urls:
    description: Base URL per file source (C(kubernetes), C(crictl), C(cni_plugins), C(containerd), C(runc)).
    type: dict
    default: {}
  download_checksums:
    description: Pinned sha256 per file name, architecture and version (C(sha256:<hex>)).
    type: dict
    default: {}
  require_checksums:
    description:
      - Refuse a file without a pinned sha256. Set false only where the sums come later from a generated file
        (the lab, before C(bin/lab mirror up)); the file is then listed with C(sha256=null).
    type: bool
    default: true
  files:
    description: The file names to list (default all of C(kubeadm), C(kubelet), C(kubectl), C(crictl), C(cni_plugins), C(containerd), C(runc)).
    type: list
    elements: str
  kubeadm_binary:
    description: kubeadm on the controller (>= 1.31 and at least the site's minor version).
    type: path
    default: kubeadm
  image_repository:
    description: kubeadm's imageRepository.
    type: str
    default: registry.k8s.io
  tenant_versions:
    description:
      - Kubernetes versions of the tenant clusters; Kamaji runs their control planes and their workers pull
        kube-proxy, CoreDNS and pause, so their images are listed (from O(tenant_kubeadm_binary), without etcd).
    type: list
    elements: str
    default: []
  tenant_kubeadm_binary:
    description:
      - kubeadm that lists the tenant versions' images, of the minor of the kubeadm library Kamaji is built with
        (Kamaji picks the tenants' CoreDNS as that library does, and admits tenant versions up to it); it must
        support the oldest tenant version (kubeadm lists images from its own minor minus one). Default O(kubeadm_binary).
    type: path
  tenant_image_repository:
    description: Registry of the tenant control-plane images (the KamajiControlPlane registry).
    type: str
    default: registry.k8s.io
  helm_binary:
    description: helm on the controller.
    type: path
    default: helm
  chart:
    description:
      - The umbrella chart to render with C(helm template) (a directory or a packaged chart); omit to list no
        chart images.
    type: str
  chart_repo_url:
    description: Render the chart from this Helm repository (C(helm template --repo)) instead of a local path.
    type: str
  chart_version:
    description: The chart version (with O(chart_repo_url)).
    type: str
  chart_values:
    description: The chart's values for this site (as the platform role builds them).
    type: dict
    default: {}
  release_name:
    description: The Helm release name.
    type: str
    default: kmetal
  release_namespace:
    description: The Helm release namespace.
    type: str
    default: kmetal-flux
  provider_images:
    description:
      - Image repository of each Cluster API operator provider (C(<Kind>/<name>) of the provider object); the
        tag is the object's C(spec.version). The operator pulls them at run time.
    type: dict
    default: {}
  extra_images:
    description: Further images the roles or operators pull, each C({ref, source}).
    type: list
    elements: dict
    default: []
  packages:
    description: Debian packages the roles install, each C({name, version, role}).
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Everything the site downloads
  kmetal.platform.artifact_manifest:
    architectures: [amd64]
    kubernetes_version: "{{ kmetal_kubernetes_version }}"
    download_versions: "{{ kmetal_download_versions }}"
    download_base_urls: "{{ kmetal_download_base_urls }}"
    download_checksums: "{{ kmetal_download_checksums }}"
    kubeadm_binary: /usr/local/bin/kubeadm
    chart: charts/kmetal
    chart_values: "{{ platform_values }}"
  register: manifest
"""

RETURN = r"""
manifest:
  description: The manifest (files, images, charts, packages, and the tenant versions whose images it holds), as written to the site's artifacts JSON.
  returned: success
  type: dict
  sample:
    architectures: [amd64]
    files:
      - {name: kubelet, version: v1.34.4, arch: amd64, base: kubernetes, path: v1.34.4/bin/linux/amd64/kubelet,
         url: "https://dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubelet", sha256: "03b8..."}
    images: [{ref: "registry.k8s.io/kube-apiserver:v1.34.4", source: kubeadm}]
    charts: [{name: kmetal, version: 0.1.0, source: charts/kmetal}]
    packages: [{name: chrony, version: "", role: host_prep}]
    tenant_versions: [v1.34.4]
table:
  description: The manifest as lines of a table (kind, name, version/tag, source, url).
  returned: success
  type: list
  elements: str
counts:
  description: How many files, images, charts and packages.
  returned: success
  type: dict
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.kmetal.platform.plugins.module_utils import _artifacts as art
from ansible_collections.kmetal.platform.plugins.module_utils._artifacts import yaml


def argspec():
    return dict(
        architectures=dict(type="list", elements="str", default=["amd64"]),
        kubernetes_version=dict(type="str", required=True),
        download_versions=dict(type="dict", default={}),
        download_base_urls=dict(type="dict", default={}),
        download_checksums=dict(type="dict", default={}),
        require_checksums=dict(type="bool", default=True),
        files=dict(type="list", elements="str"),
        kubeadm_binary=dict(type="path", default="kubeadm"),
        tenant_kubeadm_binary=dict(type="path"),
        image_repository=dict(type="str", default="registry.k8s.io"),
        tenant_versions=dict(type="list", elements="str", default=[]),
        tenant_image_repository=dict(type="str", default="registry.k8s.io"),
        helm_binary=dict(type="path", default="helm"),
        chart=dict(type="str"),
        chart_repo_url=dict(type="str"),
        chart_version=dict(type="str"),
        chart_values=dict(type="dict", default={}),
        release_name=dict(type="str", default="kmetal"),
        release_namespace=dict(type="str", default="kmetal-flux"),
        provider_images=dict(type="dict", default={}),
        extra_images=dict(type="list", elements="dict", default=[]),
        packages=dict(type="list", elements="dict", default=[]),
    )


def _runner(module):
    def run(argv):
        if os.path.sep not in argv[0] and module.get_bin_path(argv[0]) is None:
            return 127, "", f"{argv[0]}: not found on PATH"
        if os.path.sep in argv[0] and not os.access(argv[0], os.X_OK):
            return 127, "", f"{argv[0]}: missing or not executable"
        return module.run_command(argv)
    return run


def _chart(module, run, p):
    """helm template of the umbrella chart: its images and the enabled charts."""
    with tempfile.TemporaryDirectory(prefix="kmetal-artifacts-") as tmp:
        values = os.path.join(tmp, "values.yaml")
        with open(values, "w") as handle:
            yaml.safe_dump(p["chart_values"], handle)
        argv = [p["helm_binary"], "template", p["release_name"], p["chart"], "--namespace", p["release_namespace"],
                "--values", values, "--kube-version", p["kubernetes_version"]]
        if p["chart_repo_url"]:
            argv += ["--repo", p["chart_repo_url"]]
        if p["chart_version"]:
            argv += ["--version", p["chart_version"]]
        rc, out, err = run(argv)
        if rc != 0:
            raise art.ArtifactError(f"helm_binary/chart: `helm template` of {p['chart']} failed: {(err or out).strip()[-2000:]}")
    images = art.chart_images(out, "kmetal", p["provider_images"])
    source = p["chart_repo_url"] or os.path.normpath(p["chart"])
    charts = [{"name": "kmetal", "version": p["chart_version"] or "", "source": source}]
    chart_yaml = os.path.join(p["chart"], "Chart.yaml")
    if not p["chart_repo_url"] and os.path.isfile(chart_yaml):
        with open(chart_yaml) as handle:
            meta = yaml.safe_load(handle)
        charts[0]["version"] = str(meta.get("version", ""))
        for sub in art.enabled_subcharts(meta, p["chart_values"]):
            charts.append({"name": sub["name"], "version": sub["version"], "source": f"{source}/charts (vendored)"})
    return images, charts


def compute(module, run):
    p = module.params
    files = art.compute_files(p["architectures"], p["kubernetes_version"], p["download_versions"], p["download_base_urls"],
                              p["download_checksums"], p["files"], p["require_checksums"])
    images = art.kubeadm_images(run, p["kubeadm_binary"], p["kubernetes_version"], p["image_repository"])
    for version in p["tenant_versions"]:
        tenant = art.kubeadm_images(run, p["tenant_kubeadm_binary"] or p["kubeadm_binary"], version, p["tenant_image_repository"],
                                    source=f"runtime:kamaji-tenant {version}")
        images += [i for i in tenant if "/etcd:" not in i["ref"]]
    charts = []
    if p["chart"]:
        chart_imgs, charts = _chart(module, run, p)
        images += chart_imgs
    for extra in p["extra_images"]:
        if not extra.get("ref"):
            raise art.ArtifactError(f"extra_images: an entry has no ref ({extra!r}); give {{ref: HOST/REPO:TAG, source: WHY}}")
        images.append({"ref": art.normalize_ref(str(extra["ref"])), "source": str(extra.get("source") or "runtime")})
    packages = []
    for pkg in p["packages"]:
        if not pkg.get("name"):
            raise art.ArtifactError(f"packages: an entry has no name ({pkg!r})")
        packages.append({"name": str(pkg["name"]), "version": str(pkg.get("version") or ""), "role": str(pkg.get("role") or "")})
    return {
        "architectures": list(p["architectures"]),
        "files": files,
        "images": sorted(art.dedupe(images, "ref"), key=lambda i: i["ref"]),
        "charts": art.dedupe(charts, "name"),
        "packages": sorted(art.dedupe(packages, "name"), key=lambda i: i["name"]),
        # said once here: an image a tenant version shares with the under cluster keeps the under cluster's source
        "tenant_versions": sorted(set(p["tenant_versions"])),
    }


def main():
    module = AnsibleModule(argument_spec=argspec(), supports_check_mode=True)
    if yaml is None:
        module.fail_json(msg="artifact_manifest needs PyYAML on the controller")
    try:
        manifest = compute(module, _runner(module))
    except art.ArtifactError as err:
        module.fail_json(msg=to_native(err))
    counts = {kind: len(manifest[kind]) for kind in ("files", "images", "charts", "packages")}
    module.exit_json(changed=False, manifest=manifest, table=art.render_table(art.table(manifest)), counts=counts)


if __name__ == "__main__":
    main()
