# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The site's artifact manifest: every file, image, chart and package a site downloads (pure logic).

The commands (kubeadm, helm) are run by the caller through a `run(argv) -> (rc, stdout, stderr)` callable, so that
this logic is tested without them and the module runs the real ones.
"""

from __future__ import annotations

import re

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core on the controller
    yaml = None

# Release files: name -> (base URL key, path under the base URL, version key). The paths are exactly those the
# upstream projects publish (and the lab build lays out under $KMETAL_CACHE/files/<base>/<path>).
FILES = {
    "kubeadm": ("kubernetes", "{v}/bin/linux/{arch}/kubeadm", "kubernetes"),
    "kubelet": ("kubernetes", "{v}/bin/linux/{arch}/kubelet", "kubernetes"),
    "kubectl": ("kubernetes", "{v}/bin/linux/{arch}/kubectl", "kubernetes"),
    "crictl": ("crictl", "{v}/crictl-{v}-linux-{arch}.tar.gz", "crictl"),
    "cni_plugins": ("cni_plugins", "{v}/cni-plugins-linux-{arch}-{v}.tgz", "cni_plugins"),
    "containerd": ("containerd", "v{v}/containerd-{v}-linux-{arch}.tar.gz", "containerd"),
    "runc": ("runc", "{v}/runc.{arch}", "runc"),
}
ARCHITECTURES = ("amd64", "arm64")
SHA256 = re.compile(r"^(sha256:)?([0-9a-f]{64})$")
# kubeadm >= 1.31 is what `kubeadm config validate` (under_cluster) needs; a kubeadm older than the site's minor
# lists the wrong images.
KUBEADM_MIN = (1, 31)


class ArtifactError(Exception):
    """Bad input or a failed tool: the message names the field (or the command) and the fix."""


def _minor(version):
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def compute_files(architectures, kubernetes_version, versions, base_urls, checksums, names=None, require_checksums=True):
    """One entry per file, architecture and version, with its URL and pinned sha256; all problems at once."""
    errors = []
    bad_arch = [a for a in architectures if a not in ARCHITECTURES]
    if bad_arch:
        errors.append(f"architectures: {', '.join(map(str, bad_arch))} not supported (use one of {', '.join(ARCHITECTURES)})")
    files = []
    for name in names or list(FILES):
        if name not in FILES:
            errors.append(f"files: unknown file {name} (known: {', '.join(FILES)})")
            continue
        base, path_tpl, version_key = FILES[name]
        version = kubernetes_version if version_key == "kubernetes" else (versions or {}).get(version_key)
        field = "kmetal_kubernetes_version" if version_key == "kubernetes" else f"kmetal_download_versions.{version_key}"
        if not version:
            errors.append(f"{field}: no version for {name} (set it in the download table, downloads.yml)")
            continue
        version = str(version)
        base_url = (base_urls or {}).get(base)
        if not base_url:
            errors.append(f"kmetal_download_base_urls.{base}: no base URL for {name} (set it in downloads.yml, or offline.yml for a mirror)")
            continue
        for arch in architectures:
            if arch not in ARCHITECTURES:
                continue
            path = path_tpl.format(v=version, arch=arch)
            pinned = (((checksums or {}).get(name) or {}).get(arch) or {}).get(version)
            sha = None
            if pinned is None:
                if require_checksums:
                    errors.append(f"kmetal_download_checksums.{name}.{arch}.{version}: no sha256 for {name} {version} {arch} "
                                  f"(add the upstream release checksum to the download table; never guess one)")
            else:
                match = SHA256.match(str(pinned).strip().lower())
                if not match:
                    errors.append(f"kmetal_download_checksums.{name}.{arch}.{version}: {pinned!r} is not a sha256 (sha256:<64 hex digits>)")
                else:
                    sha = match.group(2)
            files.append({"name": name, "version": version, "arch": arch, "base": base, "path": path,
                          "url": f"{base_url.rstrip('/')}/{path}", "sha256": sha})
    if errors:
        raise ArtifactError("; ".join(errors))
    return files


def kubeadm_images(run, kubeadm, kubernetes_version, image_repository, source="kubeadm"):
    """The control plane's images from the real `kubeadm config images list`."""
    rc, out, err = run([kubeadm, "version", "-o", "short"])
    if rc != 0:
        raise ArtifactError(f"kubeadm_binary: {kubeadm} does not run ({(err or out).strip()}); install kubeadm >= "
                            f"{KUBEADM_MIN[0]}.{KUBEADM_MIN[1]} on the controller or point kubeadm_binary at one (the lab's: .lab/bin/kubeadm)")
    have, want = _minor(out.strip()), _minor(kubernetes_version)
    if have is None or want is None:
        raise ArtifactError(f"kubeadm_binary: cannot compare kubeadm version {out.strip()!r} with {kubernetes_version!r}")
    if have < KUBEADM_MIN or have < want:
        need = max(KUBEADM_MIN, want)
        raise ArtifactError(f"kubeadm_binary: {kubeadm} is {out.strip()}, too old to list the images of {kubernetes_version} "
                            f"(needs >= v{need[0]}.{need[1]}); install a newer kubeadm on the controller")
    argv = [kubeadm, "config", "images", "list", "--kubernetes-version", str(kubernetes_version), "--image-repository", image_repository]
    rc, out, err = run(argv)
    if rc != 0:
        raise ArtifactError(f"{' '.join(argv)} failed: {(err or out).strip()}")
    return [{"ref": line.strip(), "source": source} for line in out.splitlines() if line.strip()]


def walk_images(node, path=""):
    """Every image reference in a rendered object: each string under a key named `image` (containers,
    initContainers, ephemeralContainers, and the image fields of custom resources) and each docker:// URL
    (container disks imported by CDI). An untagged `image` beside a `version` (Kamaji's addons: konnectivity
    server and agent) is pulled as image:version. Yields (path, ref)."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(value, str) and value.strip():
                ref, version = value.strip(), node.get("version")
                if isinstance(version, str) and version.strip() and ":" not in ref.rsplit("/", 1)[-1] and "@" not in ref:
                    ref = f"{ref}:{version.strip()}"
                yield here, ref
            else:
                yield from walk_images(value, here)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_images(value, f"{path}[{index}]")
    elif isinstance(node, str) and node.startswith("docker://"):
        yield path, node[len("docker://"):]


def normalize_ref(ref):
    """The exact reference a node pulls: docker.io is implied for a bare name, library/ for a single segment."""
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        name = "docker.io/" + name
    host, rest = name.split("/", 1)
    if host == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    last = rest.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        rest += ":latest"
    return f"{host}/{rest}"


def source_of(doc, chart_name):
    """The sub-chart an object comes from: helm template's `# Source: kmetal/charts/<sub>/...` comment."""
    match = re.search(rf"^# Source: {re.escape(chart_name)}/charts/([^/]+)/", doc, re.M)
    return f"chart:{match.group(1)}" if match else f"chart:{chart_name}"


def chart_images(rendered, chart_name="kmetal", provider_images=None):
    """Images of a rendered chart (the output of `helm template`), each with the sub-chart it comes from.

    provider_images maps "<Kind>/<name>" of a Cluster API operator provider object to the image repository its
    controller runs from; the tag is the object's spec.version (the operator pulls it at run time)."""
    images = []
    for doc in re.split(r"^---\s*$", rendered, flags=re.M):
        if not doc.strip():
            continue
        obj = yaml.safe_load(doc)
        if not isinstance(obj, dict):
            continue
        source = source_of(doc, chart_name)
        for path, ref in walk_images(obj):
            # A docker:// URL is a VM disk that CDI imports (a tenant worker's boot disk), not a container image.
            pulled_by = "containerd" if path == "image" or path.endswith(".image") else "cdi"
            images.append({"ref": normalize_ref(ref), "source": source, "pulled_by": pulled_by})
        key = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        repo = (provider_images or {}).get(key)
        version = (obj.get("spec") or {}).get("version")
        if repo and version:
            images.append({"ref": f"{repo}:{version}", "source": f"runtime:capi-provider {key}"})
        # A provider fetched from the site's mirror as an OCI artifact (<mirror>/<repository>:<version>): the mirror
        # must hold <repository>:<version>.
        oci = (((obj.get("spec") or {}).get("fetchConfig") or {}).get("oci") or "").strip()
        if repo and oci and "/" in oci:
            images.append({"ref": oci.split("/", 1)[1], "source": f"runtime:capi-provider components {key}", "pulled_by": "capi-operator"})
    return images


def enabled_subcharts(chart_yaml, values):
    """The sub-charts a values set enables: Chart.yaml's dependencies whose condition is true."""
    out = []
    for dep in (chart_yaml or {}).get("dependencies") or []:
        on = True
        for cond in str(dep.get("condition") or "").split(","):
            if not cond.strip():
                continue
            node = values
            for part in cond.strip().split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, bool):
                on = node
                break
        if on:
            out.append({"name": dep.get("alias") or dep["name"], "version": str(dep.get("version", ""))})
    return out


def dedupe(entries, key):
    """Keep the first entry per key (the most specific source listed first)."""
    seen, out = set(), []
    for entry in entries:
        if entry[key] in seen:
            continue
        seen.add(entry[key])
        out.append(entry)
    return out


def table(manifest):
    """Rows of (kind, name, version/tag, source, url) for the printed table."""
    rows = []
    for f in manifest.get("files", []):
        rows.append(("file", f"{f['name']} ({f['arch']})", f["version"], f["base"], f["url"]))
    for i in manifest.get("images", []):
        name, _sep, tag = i["ref"].rpartition(":")
        rows.append(("image", name, tag, i["source"], ""))
    for c in manifest.get("charts", []):
        rows.append(("chart", c["name"], c["version"], c.get("source", ""), ""))
    for p in manifest.get("packages", []):
        rows.append(("package", p["name"], p.get("version") or "", f"apt ({p.get('role', '')})", ""))
    return rows


def render_table(rows):
    head = ("KIND", "NAME", "VERSION/TAG", "SOURCE", "URL")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    return [("  ".join(str(v).ljust(widths[i]) for i, v in enumerate(r))).rstrip() for r in [head, *rows]]
