"""kmetal.platform.artifacts on the sample and lab inventories, with the real kubeadm and helm (`make binaries`) and
the vendored sub-charts (charts/vendor.sh): the manifest lists kubeadm's images, Flannel, kube-vip and at least
one image of every enabled sub-chart; bad input is refused naming the field."""

import json
import os
import subprocess

import kmetal_platform_helpers as c
import pytest
import yaml

PLAYBOOK = c.REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "playbooks" / "artifacts.yml"
KUBEADM = c.REPO / ".lab" / "bin" / "kubeadm"
HELM = c.REPO / ".lab" / "bin" / "helm"


def need_tools():
    for tool in (KUBEADM, HELM):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is missing: run `make binaries` (the manifest runs the real kubeadm and helm)")
    c.ensure_vendored()


def run(site: str, tmp_path, **extra) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / f"{site}.json"
    env = {**os.environ, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}
    extra = {"artifacts_manifest_path": str(out), "artifacts_kubeadm_binary": str(KUBEADM),
             "artifacts_helm_binary": str(HELM), **extra}
    proc = subprocess.run(["ansible-playbook", "-i", str(c.REPO / "inventories" / site / "hosts.yml"), str(PLAYBOOK),
                           "-e", json.dumps(extra)], capture_output=True, text=True, env=env, cwd=c.REPO, timeout=600)
    return proc, (json.loads(out.read_text()) if out.exists() else {})


def kubeadm_list(version: str) -> list[str]:
    listed = subprocess.run([str(KUBEADM), "config", "images", "list", "--kubernetes-version", version,
                             "--image-repository", "registry.k8s.io"], capture_output=True, text=True, check=True)
    return listed.stdout.split()


@pytest.mark.parametrize("site", ["sample", "lab"])
def test_the_manifest_lists_kubeadm_flannel_kube_vip_and_every_enabled_sub_chart(site, tmp_path):
    need_tools()
    proc, manifest = run(site, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    refs = {i["ref"]: i["source"] for i in manifest["images"]}
    for ref in kubeadm_list("v1.34.4"):
        assert refs.get(ref) == "kubeadm", ref
    assert any(r.startswith("ghcr.io/flannel-io/flannel:") for r in refs)
    # kube-vip at the site's own pin (the lab builds the nearest version the Go proxy serves).
    downloads = yaml.safe_load((c.REPO / "inventories" / site / "group_vars" / "all" / "downloads.yml").read_text())
    assert f"ghcr.io/kube-vip/kube-vip:{downloads['kmetal_download_versions']['kube_vip']}" in refs
    subcharts = [ch["name"] for ch in manifest["charts"] if ch["name"] != "kmetal"]
    assert "flannel" in subcharts
    for sub in subcharts:
        templates = [t for t in (c.CHART / "charts" / sub / "templates").rglob("*.yaml")]
        if all("kind: CustomResourceDefinition" in t.read_text() for t in templates):
            continue  # CRD-only (Flux's CRDs): nothing runs, so no image
        assert f"chart:{sub}" in refs.values(), f"no image of the enabled sub-chart {sub}"
    # Every file with its URL under the site's base URL; the sample's with its upstream sum.
    names = {f["name"] for f in manifest["files"]}
    assert names == {"kubeadm", "kubelet", "kubectl", "crictl", "cni_plugins", "containerd", "runc"}
    if site == "sample":
        assert all(len(f["sha256"] or "") == 64 for f in manifest["files"])
        assert {"kube-ovn", "metallb", "cert-manager", "kamaji", "cluster-api-operator", "local-path-provisioner"} <= set(subcharts)
        assert "registry.k8s.io/cluster-api/cluster-api-controller:v1.13.6" in refs
    else:
        assert all(f["url"].startswith("https://198.18.0.1:8443/files/") for f in manifest["files"])
    packages = {p["name"] for p in manifest["packages"]}
    assert "chrony" in packages
    assert not {"containerd", "runc"} & packages, "containerd and runc are release files of the download table, not packages"
    assert "KIND     NAME" in proc.stdout


def test_a_file_version_without_a_checksum_is_refused_naming_it(tmp_path):
    need_tools()
    proc, manifest = run("sample", tmp_path, kmetal_download_versions={"crictl": "v1.99.0", "cni_plugins": "v1.9.1",
                                                                       "containerd": "2.2.3", "runc": "v1.3.3", "kube_vip": "v0.8.9"})
    assert proc.returncode != 0 and not manifest
    assert "kmetal_download_checksums.crictl.amd64.v1.99.0: no sha256 for crictl v1.99.0 amd64" in proc.stdout


def test_an_unknown_architecture_and_a_missing_kubeadm_are_refused(tmp_path):
    need_tools()
    proc, _ = run("sample", tmp_path, artifacts_architectures=["amd64", "mips"])
    assert proc.returncode != 0 and "architectures: mips not supported" in proc.stdout
    proc, _ = run("sample", tmp_path, artifacts_kubeadm_binary=str(tmp_path / "no-kubeadm"))
    assert proc.returncode != 0 and "kubeadm_binary:" in proc.stdout and "no-kubeadm" in proc.stdout
