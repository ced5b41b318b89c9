"""The Cluster API providers' release manifests, built from their Go modules as each upstream release builds them,
for the Cluster API operator of an air-gapped site.

For each provider the operator installs (core cluster-api, kubeadm bootstrap, kubevirt infrastructure, kamaji control
plane) this renders the components YAML with kustomize from the module's config/, after the same image edit the
project's release target makes (its Makefile's `release-manifests` / `create-infrastructure-components` / `release`),
and takes its metadata.yaml. Each image the components name is one build.py writes (the release's own tag).

Into $KMETAL_CACHE/providers/<type>-<name>/<version>/: components.yaml, metadata.yaml, and oci/, an OCI image layout
holding both as one OCI artifact (the two files as layers titled components.yaml and metadata.yaml, as the operator's
`publish` plugin packs them). The artifact's reference is kmetal.io/capi-providers/<type>-<name>:<version>; the lab
mirror stores it, like an image, at <mirror>/kmetal.io/capi-providers/<type>-<name>:<version>, which is what a
provider's fetchConfig.oci names (the chart's capi.fetchConfig).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ARTIFACT_REPOSITORY = "kmetal.io/capi-providers"
# As the operator's `publish` plugin (cmd/plugin/cmd/publish.go) packs provider files.
ARTIFACT_TYPE = "application/vnd.acme.config"
FILE_MEDIA_TYPE = "application/vnd.test.file"
EMPTY_CONFIG = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


def providers(pins: dict) -> list:
    """Each provider: the operator's type and name, its module and version, the kustomize dirs (relative to the
    module) that are copied, the build directory, how the release sets the image, and metadata.yaml's path."""
    capi, capk, cacpk = pins["CAPI_VERSION"], pins["CAPK_VERSION"], pins["CACPK_VERSION"]
    return [
        # cluster-api's Makefile: manifest-modification (set-manifest-image into config/default/manager_image_patch.yaml,
        # set-manifest-pull-policy IfNotPresent), then `kustomize build config/default > core-components.yaml`.
        {"type": "core", "name": "cluster-api", "module": "sigs.k8s.io/cluster-api", "version": capi, "copy": ["config"],
         "build": "config/default", "image": f"registry.k8s.io/cluster-api/cluster-api-controller:{capi}",
         "edits": [("config/default/manager_image_patch.yaml", "sed-image"), ("config/default/manager_pull_policy.yaml", "sed-pull")],
         "metadata": "metadata.yaml"},
        # The same for bootstrap/kubeadm/config/default > bootstrap-components.yaml.
        {"type": "bootstrap", "name": "kubeadm", "module": "sigs.k8s.io/cluster-api", "version": capi, "copy": ["bootstrap/kubeadm/config"],
         "build": "bootstrap/kubeadm/config/default", "image": f"registry.k8s.io/cluster-api/kubeadm-bootstrap-controller:{capi}",
         "edits": [("bootstrap/kubeadm/config/default/manager_image_patch.yaml", "sed-image"),
                   ("bootstrap/kubeadm/config/default/manager_pull_policy.yaml", "sed-pull")],
         "metadata": "metadata.yaml"},
        # CAPK's create_release workflow: `make create-infrastructure-components` with REGISTRY=quay.io/capk
        # IMAGE_NAME=capk-manager TAG=<tag>: `cd config/default && kustomize edit set image controller=...`.
        {"type": "infrastructure", "name": "kubevirt", "module": "sigs.k8s.io/cluster-api-provider-kubevirt", "version": capk,
         "copy": ["config"], "build": "config/default", "image": f"quay.io/capk/capk-manager:{capk}",
         "edits": [("config/default", "kustomize-set-image")], "metadata": "metadata.yaml"},
        # CACPK's Makefile `release` (VERSION=<tag>): `cd config/manager && kustomize edit set image controller=${IMG}`
        # then `kustomize build config/default > config/control-plane-components.yaml`. (Its release workflow uploads
        # the committed file, which for v0.15.2 still names the v0.15.0 image: the tag is set here as the target does.)
        {"type": "control-plane", "name": "kamaji", "module": "github.com/clastix/cluster-api-control-plane-provider-kamaji",
         "version": cacpk, "copy": ["config"], "build": "config/default",
         "image": f"docker.io/clastix/cluster-api-control-plane-provider-kamaji:{cacpk}",
         "edits": [("config/manager", "kustomize-set-image")], "metadata": "config/metadata.yaml"},
    ]


def artifact_ref(p: dict) -> str:
    return f"{ARTIFACT_REPOSITORY}/{p['type']}-{p['name']}:{p['version']}"


def render(p: dict, module_dir: Path, kustomize: Path) -> str:
    """kustomize build of the provider's release directory, after the release's image edit, in a copy of the module
    (the module cache is read-only)."""
    with tempfile.TemporaryDirectory(prefix="kmetal-provider-") as tmp:
        root = Path(tmp)
        for rel in p["copy"]:
            shutil.copytree(module_dir / rel, root / rel)
        for path in root.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        for rel, how in p["edits"]:
            target = root / rel
            if how == "sed-image":
                text = target.read_text()
                target.write_text(re.sub(r"image: .*", f"image: {p['image']}", text))
            elif how == "sed-pull":
                text = target.read_text()
                target.write_text(re.sub(r"imagePullPolicy: .*", "imagePullPolicy: IfNotPresent", text))
            else:
                subprocess.run([str(kustomize), "edit", "set", "image", f"controller={p['image']}"], cwd=target, check=True,
                               capture_output=True, text=True)
        out = subprocess.run([str(kustomize), "build", p["build"]], cwd=root, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"kustomize build {p['build']} of {p['module']}@{p['version']} failed: {out.stderr.strip()[-2000:]}")
        return out.stdout


def _blob(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_layout(layout: Path, files: dict, tag: str) -> str:
    """An OCI image layout with one artifact manifest whose layers are FILES (title -> bytes); its digest."""
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)
    _blob(layout, b"{}")
    layers = [{"mediaType": FILE_MEDIA_TYPE, **_blob(layout, data), "annotations": {"org.opencontainers.image.title": name}}
              for name, data in sorted(files.items())]
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "artifactType": ARTIFACT_TYPE, "config": EMPTY_CONFIG, "layers": layers}
    raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    desc = _blob(layout, raw)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": MANIFEST_MEDIA_TYPE, **desc, "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (layout / "index.json").write_text(json.dumps(index, separators=(",", ":")))
    return desc["digest"]


def build(b) -> list:
    """Render every provider once into $KMETAL_CACHE/providers; the index entries of their OCI artifacts
    ({ref, tarball (the layout directory), digest}), as build.py's index lists images."""
    v = b.pins["KUSTOMIZE_VERSION"]
    kustomize = b.go("kustomize", v, "kustomize", "sigs.k8s.io/kustomize/kustomize/v5",
                     f"-X sigs.k8s.io/kustomize/api/provenance.version=kustomize/{v}")
    root = b.cache / "providers"
    entries = []
    for p in providers(b.pins):
        out = root / f"{p['type']}-{p['name']}" / p["version"]
        stamp = out / "artifact.json"
        if not stamp.exists():
            module_dir = b.module_dir(p["module"], p["version"])
            components = render(p, module_dir, kustomize).encode()
            metadata = (module_dir / p["metadata"]).read_bytes()
            tmp = Path(f"{out}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            (tmp / "components.yaml").write_bytes(components)
            (tmp / "metadata.yaml").write_bytes(metadata)
            digest = oci_layout(tmp / "oci", {"components.yaml": components, "metadata.yaml": metadata}, p["version"])
            (tmp / "artifact.json").write_text(json.dumps({"ref": artifact_ref(p), "digest": digest, "image": p["image"],
                                                           "module": f"{p['module']}@{p['version']}", "kustomize": p["build"]}, indent=1))
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
            b.log(f"build-artifacts: {p['type']}-{p['name']} {p['version']} components rendered ({len(components)} bytes), {artifact_ref(p)}")
        info = json.loads(stamp.read_text())
        entries.append({"ref": info["ref"], "tarball": str(out / "oci"), "digest": info["digest"]})
    return entries
