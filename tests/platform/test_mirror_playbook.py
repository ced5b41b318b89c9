"""kmetal.platform.mirror against a real registry (distribution, `.lab/bin/registry`, on 127.0.0.1 with TLS from a
test CA) and a temp directory, from a build cache laid out as the lab's ($KMETAL_CACHE/files, artifacts.json with
image tarballs made by crane): it copies, a second run changes nothing, --check lists what it would copy and
copies nothing, a checksum mismatch is refused naming the file with both sums, a missing artifact is named."""

import hashlib
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request

import kmetal_platform_helpers as c
import pytest
from kmetal_lab.pki import CA

PLAYBOOK = c.REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "playbooks" / "mirror.yml"
BIN = c.REPO / ".lab" / "bin"
CRANE, REGISTRY = BIN / "crane", BIN / "registry"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    for tool in (CRANE, REGISTRY):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is missing: run `make binaries` (the mirror test runs the real registry and crane)")
    base = tmp_path_factory.mktemp("registry")
    ca = CA(base / "pki")
    crt, key = ca.issue("registry", "registry", server_names=["127.0.0.1"])
    port = free_port()
    config = base / "config.yml"
    config.write_text(json.dumps({"version": 0.1, "log": {"level": "warn"},
                                  "storage": {"filesystem": {"rootdirectory": str(base / "data")}},
                                  "http": {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(crt), "key": str(key)}}}))
    log = (base / "registry.log").open("w")
    proc = subprocess.Popen([str(REGISTRY), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/v2/", context=context, timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the registry did not come up: {(base / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield {"address": f"127.0.0.1:{port}", "ca": str(ca.cert_path)}
    proc.terminate()
    proc.wait(timeout=30)


def image_tarball(path, ref: str, content: str) -> str:
    layer_dir = path.parent / (path.name + ".layer")
    layer_dir.mkdir(parents=True)
    (layer_dir / "hello").write_text(content)
    subprocess.run(["tar", "-C", str(layer_dir), "-cf", str(layer_dir / "layer.tar"), "hello"], check=True)
    subprocess.run([str(CRANE), "append", "-f", str(layer_dir / "layer.tar"), "-t", ref, "-o", str(path), "--oci-empty-base"],
                   check=True, capture_output=True)
    return subprocess.run([str(CRANE), "digest", "--tarball", str(path)], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def site(tmp_path):
    """A build cache with two files and two images, and the manifest that asks for them."""
    cache = tmp_path / "cache"
    files, images, manifest_files = [], [], []
    for name, base, path in [("kubelet", "kubernetes", "v1.34.4/bin/linux/amd64/kubelet"), ("runc", "runc", "v1.3.3/runc.amd64")]:
        target = cache / "files" / base / path
        target.parent.mkdir(parents=True)
        target.write_bytes(f"{name} binary".encode())
        sha = hashlib.sha256(target.read_bytes()).hexdigest()
        files.append({"base": base, "path": path, "sha256": sha, "size": target.stat().st_size})
        manifest_files.append({"name": name, "version": path.split("/")[0], "arch": "amd64", "base": base, "path": path,
                               "url": f"https://mirror.example/files/{base}/{path}", "sha256": sha})
    for ref in ["registry.k8s.io/pause:3.10.1", "ghcr.io/flannel-io/flannel:v0.28.10"]:
        tarball = cache / "images" / (ref.replace(":", "/") + ".tar")
        tarball.parent.mkdir(parents=True)
        images.append({"ref": ref, "tarball": str(tarball), "digest": image_tarball(tarball, ref, ref)})
    (cache / "artifacts.json").write_text(json.dumps({"files": files, "images": images}))
    manifest = {"architectures": ["amd64"], "files": manifest_files,
                "images": [{"ref": i["ref"], "source": "test"} for i in images], "charts": [], "packages": []}
    return {"tmp": tmp_path, "cache": cache, "manifest": manifest, "images": images, "files_dir": tmp_path / "served"}


def run(site, registry, *args, manifest=None):
    path = site["tmp"] / "manifest.json"
    path.write_text(json.dumps(manifest or site["manifest"]))
    extra = {"mirror_manifest_path": str(path), "mirror_source": "cache", "mirror_cache_dir": str(site["cache"]),
             "mirror_files_dir": str(site["files_dir"]), "mirror_registry": registry["address"],
             "mirror_registry_ca_file": registry["ca"], "mirror_crane_binary": str(CRANE)}
    env = {**os.environ, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}
    return subprocess.run(["ansible-playbook", "-i", str(c.REPO / "inventories" / "sample" / "hosts.yml"), str(PLAYBOOK),
                           "-e", json.dumps(extra), *args], capture_output=True, text=True, env=env, cwd=c.REPO, timeout=600)


def changed(proc) -> int:
    line = next(line for line in proc.stdout.splitlines() if line.startswith("localhost") and "changed=" in line)
    return int(line.split("changed=")[1].split()[0])


def digest_in(registry, ref: str) -> str:
    proc = subprocess.run([str(CRANE), "digest", f"{registry['address']}/{ref}"], capture_output=True, text=True,
                          env={**os.environ, "SSL_CERT_FILE": registry["ca"]})
    return proc.stdout.strip() if proc.returncode == 0 else ""


def test_copies_then_changes_nothing(site, registry):
    check = run(site, registry, "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert "registry.k8s.io/pause:3.10.1" in check.stdout and "would be copied" in check.stdout
    assert not site["files_dir"].exists() or not any(site["files_dir"].rglob("kubelet"))

    first = run(site, registry)
    assert first.returncode == 0, first.stdout[-3000:]
    assert changed(first) > 0
    for f in site["manifest"]["files"]:
        served = site["files_dir"] / f["base"] / f["path"]
        assert hashlib.sha256(served.read_bytes()).hexdigest() == f["sha256"]
    for image in site["images"]:
        assert digest_in(registry, image["ref"]) == image["digest"]

    second = run(site, registry)
    assert second.returncode == 0, second.stdout[-3000:]
    assert changed(second) == 0


def test_check_mode_lists_and_copies_nothing(site, registry, tmp_path):
    ref = "quay.io/kmetal-test/only-in-check:v1"
    tarball = site["cache"] / "images" / "only-in-check.tar"
    digest = image_tarball(tarball, ref, "check")
    index = json.loads((site["cache"] / "artifacts.json").read_text())
    index["images"].append({"ref": ref, "tarball": str(tarball), "digest": digest})
    (site["cache"] / "artifacts.json").write_text(json.dumps(index))
    manifest = {**site["manifest"], "images": [{"ref": ref, "source": "test"}], "files": []}
    proc = run(site, registry, "--check", manifest=manifest)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert ref in proc.stdout
    assert digest_in(registry, ref) == ""


def test_a_checksum_mismatch_is_refused_naming_the_file_and_both_sums(site, registry):
    manifest = json.loads(json.dumps(site["manifest"]))
    actual = manifest["files"][1]["sha256"]
    manifest["files"][1]["sha256"] = "0" * 64
    proc = run(site, registry, manifest=manifest)
    assert proc.returncode != 0
    dest = site["files_dir"] / "runc" / "v1.3.3" / "runc.amd64"
    assert str(dest) in proc.stdout and "0" * 64 in proc.stdout and actual in proc.stdout
    assert not dest.exists()


def test_a_missing_artifact_is_named(site, registry):
    manifest = json.loads(json.dumps(site["manifest"]))
    manifest["images"].append({"ref": "registry.k8s.io/not-built:v9", "source": "test"})
    proc = run(site, registry, manifest=manifest)
    assert proc.returncode != 0
    assert "registry.k8s.io/not-built:v9" in proc.stdout and "make artifacts" in proc.stdout
    (site["cache"] / "files" / "runc" / "v1.3.3" / "runc.amd64").unlink()
    proc = run(site, registry)
    assert proc.returncode != 0
    assert "runc v1.3.3 amd64" in proc.stdout and "make artifacts" in proc.stdout
