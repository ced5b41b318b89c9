"""The artifact build (lab/build-artifacts.sh, `make artifacts`): reproducible archives and layers, and the build
index $KMETAL_CACHE/artifacts.json checked against the cache it describes (skipped, saying so, before the first
`make artifacts`)."""

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from kmetal_lab import build
from kmetal_lab.paths import cache_dir, versions

INDEX = cache_dir() / "artifacts.json"
PINS = versions()


@pytest.fixture
def builder(tmp_path):
    return build.Builder(tmp_path / "cache", PINS, log=lambda _msg: None)


def test_release_archives_are_byte_for_byte_reproducible(builder, tmp_path):
    (tmp_path / "tool").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    first = builder.tgz("x", "v1/a.tgz", {"bin/tool": tmp_path / "tool"}).read_bytes()
    (builder.files / "x/v1/a.tgz").unlink()
    second = builder.tgz("x", "v1/a.tgz", {"bin/tool": tmp_path / "tool"}).read_bytes()
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        assert [(m.name, m.mode, m.mtime) for m in tar.getmembers()] == [("bin", 0o755, 0), ("bin/tool", 0o755, 0)]


def test_a_layer_gives_coredns_its_bind_capability_and_directories_their_owners(builder, tmp_path):
    (tmp_path / "coredns").write_bytes(b"\x7fELF")
    with tarfile.open(builder.binary_layer("c", {"coredns": tmp_path / "coredns"}, {"coredns"})) as tar:
        cap = tar.getmember("coredns").pax_headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape")
    # vfs_cap_data v2 with the effective flag, permitted = 1 << CAP_NET_BIND_SERVICE (10): `setcap cap_net_bind_service=+ep`.
    assert cap == bytes.fromhex("01000002" "00040000" "00000000" "00000000" "00000000")


def test_missing_shared_libraries_are_named(tmp_path):
    layer = tmp_path / "l.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add("/usr/sbin/iptables-legacy" if Path("/usr/sbin/iptables-legacy").exists() else "/bin/ls", arcname="usr/bin/tool")
    missing = build.needed_libraries_missing([layer])
    assert missing and all(m.startswith("usr/bin/tool needs ") for m in missing)


def _index():
    if not INDEX.exists():
        pytest.skip(f"no build index at {INDEX} yet: run `make artifacts` (builds the lab mirror's artifacts once)")
    return json.loads(INDEX.read_text())


def _container_images():
    """The index's container images: the Cluster API providers' components are OCI artifacts (a layout directory each,
    tests/lab/test_capi_provider_components.py checks them), not images a node runs."""
    return [i for i in _index()["images"] if not Path(i["tarball"]).is_dir()]


def test_every_file_in_the_index_has_its_sha256_and_size():
    files = _index()["files"]
    assert files
    for f in files:
        path = cache_dir() / "files" / f["base"] / f["path"]
        assert path.stat().st_size == f["size"], path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"], path


def test_the_release_files_are_laid_out_as_upstream_publishes_them():
    paths = {f"{f['base']}/{f['path']}" for f in _index()["files"]}
    kv, cni, crictl, ctd, runc = (PINS[k] for k in ("KUBERNETES_VERSION", "CNI_PLUGINS_VERSION", "CRICTL_VERSION", "CONTAINERD_VERSION", "RUNC_VERSION"))
    for v in (kv, PINS["KUBERNETES_PREVIOUS_VERSION"]):
        assert {f"kubernetes/{v}/bin/linux/amd64/{c}" for c in ("kubeadm", "kubelet", "kubectl")} <= paths
    expected = {f"cni_plugins/{cni}/cni-plugins-linux-amd64-{cni}.tgz": {"./bridge", "./host-local", "./loopback", "./portmap", "./ptp"},
                f"crictl/{crictl}/crictl-{crictl}-linux-amd64.tar.gz": {"crictl"},
                f"containerd/{ctd}/containerd-{ctd.lstrip('v')}-linux-amd64.tar.gz": {"bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"}}
    for path, members in expected.items():
        assert path in paths
        with tarfile.open(cache_dir() / "files" / path) as tar:
            assert members <= set(tar.getnames()), path
    assert f"runc/{runc}/runc.amd64" in paths


def test_every_image_kubeadm_asks_for_is_built_for_both_kubernetes_versions():
    refs = {i["ref"] for i in _index()["images"]}
    for v in (PINS["KUBERNETES_VERSION"], PINS["KUBERNETES_PREVIOUS_VERSION"]):
        kubeadm = cache_dir() / "bin" / f"kubeadm-{v}"
        wanted = subprocess.run([kubeadm, "config", "images", "list", "--kubernetes-version", v], capture_output=True, text=True, check=True).stdout.split()
        assert wanted and set(wanted) <= refs, set(wanted) - refs


def test_every_image_tarball_loads_and_has_the_indexed_digest():
    images = _container_images()
    tool = cache_dir() / "bin" / f"imagebuild-{PINS['GO_CONTAINERREGISTRY_VERSION']}"
    for image in images:
        with tarfile.open(image["tarball"]) as tar:
            (manifest,) = json.load(tar.extractfile("manifest.json"))
            assert manifest["RepoTags"] == [image["ref"]]
            config_blob = tar.extractfile(manifest["Config"]).read()
            assert manifest["Config"] == "sha256:" + hashlib.sha256(config_blob).hexdigest()
            diff_ids = json.loads(config_blob)["rootfs"]["diff_ids"]
            assert len(diff_ids) == len(manifest["Layers"])
            for name, diff_id in zip(manifest["Layers"], diff_ids):
                assert "sha256:" + hashlib.sha256(gzip.decompress(tar.extractfile(name).read())).hexdigest() == diff_id, (image["ref"], name)
        # The digest a registry holds once `crane push` has uploaded it (go-containerregistry reads the tarball back).
        got = subprocess.run([tool, "digest", image["tarball"], image["ref"]], capture_output=True, text=True, check=True).stdout.strip()
        assert got == image["digest"], image["ref"]


def test_images_share_one_base_layer():
    images = _container_images()
    firsts = set()
    for image in images:
        if image["ref"].startswith(("registry.k8s.io/pause:", "docker.io/library/busybox:")):
            continue  # FROM scratch upstream too
        with tarfile.open(image["tarball"]) as tar:
            firsts.add(json.loads(tar.extractfile(json.load(tar.extractfile("manifest.json"))[0]["Config"]).read())["rootfs"]["diff_ids"][0])
    assert len(firsts) == 1


def test_a_second_run_builds_nothing():
    before = _index()
    builder = build.Builder(cache_dir(), PINS, log=lambda _msg: None)
    # The same scope as the run that wrote the index (`make artifacts`, or build-artifacts.sh --no-platform).
    platform = any("/cluster-api/" in i["ref"] for i in before["images"])
    assert build.build_all(builder, platform=platform) == before
    assert builder.built == []


# What each image must run from its own layers alone (no host libraries): its program, and the userland it needs.
RUNS = {
    "registry.k8s.io/kube-apiserver": [["kube-apiserver", "--version"]],
    "registry.k8s.io/kube-proxy": [["kube-proxy", "--version"], ["iptables", "-V"], ["iptables-legacy", "-V"], ["nft", "--version"], ["conntrack", "--version"]],
    "registry.k8s.io/etcd": [["etcd", "--version"], ["/bin/sh", "-c", "true"]],
    "registry.k8s.io/coredns/coredns": [["/coredns", "-version"]],
    "registry.k8s.io/pause": [["/pause", "-v"]],
    "ghcr.io/flannel-io/flannel": [["/opt/bin/flanneld", "--version"], ["iptables-save", "--version"]],
    "ghcr.io/flannel-io/flannel-cni-plugin": [["cp", "-f", "/flannel", "/tmp/flannel"]],
    "ghcr.io/kube-vip/kube-vip": [["/kube-vip", "--help"]],
}


def test_every_image_runs_its_programs_from_its_own_layers(tmp_path):
    import os

    if os.geteuid() != 0:
        pytest.skip("chroot into the unpacked images needs root")
    images = {i["ref"].rsplit(":", 1)[0]: i for i in _container_images()}  # sorted refs: the newer tag wins
    for repo, commands in RUNS.items():
        root = tmp_path / repo.replace("/", "_")
        with tarfile.open(images[repo]["tarball"]) as tar:
            for layer in json.load(tar.extractfile("manifest.json"))[0]["Layers"]:
                with tarfile.open(fileobj=io.BytesIO(gzip.decompress(tar.extractfile(layer).read()))) as lt:
                    lt.extractall(root, filter="fully_trusted")
        for argv in commands:
            done = subprocess.run(["chroot", root, *argv], capture_output=True, text=True, env={"PATH": build.PATH_ENV.split("=", 1)[1]})
            assert done.returncode == 0, (repo, argv, done.stderr)
