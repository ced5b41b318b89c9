"""The under_cluster role: every kubeadm configuration it renders (init, join of a control-plane node, join of a
worker, upgrade) passes the real `kubeadm config validate`, in check mode, with the lab API standing in for the
cluster; and a bad configuration is caught by the same validation."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

import kmetal_platform_helpers as c

SAMPLE = c.REPO / "inventories" / "sample" / "group_vars" / "all"
PLAYBOOK = c.REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "playbooks" / "under_cluster.yml"


def make_inventory(tmp_path: Path, kubeconfig: Path, cps: int = 3, workers: int = 2, **overrides) -> Path:
    """Three control-plane nodes and two workers, all this machine (connection local), the sample site's settings."""
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    for name in ["cluster.yml", "network.yml", "downloads.yml", "platform.yml"]:
        (inv / "group_vars" / "all" / name).symlink_to(SAMPLE / name)
    local = {"ansible_connection": "local", "ansible_python_interpreter": os.sys.executable}
    hosts = {"all": {"children": {"kmetal_nodes": {"children": {
        "kmetal_control_plane": {"hosts": {f"cp-{i}": {**local, "ansible_host": f"10.10.0.1{i}"} for i in range(1, cps + 1)}},
        "kmetal_workers": {"hosts": {f"worker-{i}": {**local, "ansible_host": f"10.10.0.2{i}"} for i in range(1, workers + 1)}},
    }}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    settings = {"kmetal_lab_standin": True, "kmetal_kubeconfig": str(kubeconfig),
                "under_cluster_validate_dir": str(tmp_path / "validate"),
                "under_cluster_config_dir": str(tmp_path / "node-config"), **overrides}
    (inv / "group_vars" / "all" / "zz-test.yml").write_text(yaml.safe_dump(settings))
    return inv


def run(inv: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}
    return subprocess.run(["ansible-playbook", "-i", str(inv / "hosts.yml"), str(PLAYBOOK), *args],
                          capture_output=True, text=True, env=env, cwd=c.REPO, timeout=300)


def test_every_kubeadm_configuration_validates(lab_api, tmp_path):
    inv = make_inventory(tmp_path, lab_api.kubeconfig)
    result = run(inv, "--check", "--diff")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    rendered = sorted(p.name for p in (tmp_path / "validate").iterdir())
    assert rendered == ["cp-1-init.yaml", "cp-1-upgrade.yaml", "cp-2-join-control-plane.yaml",
                        "cp-3-join-control-plane.yaml", "worker-1-join-worker.yaml", "worker-2-join-worker.yaml"]
    # Validate each once more here, independently of the role.
    for path in (tmp_path / "validate").iterdir():
        check = subprocess.run(["kubeadm", "config", "validate", "--config", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, f"{path.name}: {check.stderr}"
    init = list(yaml.safe_load_all((tmp_path / "validate" / "cp-1-init.yaml").read_text()))
    cluster = next(d for d in init if d["kind"] == "ClusterConfiguration")
    assert cluster["controlPlaneEndpoint"] == "10.10.0.10:6443"
    assert cluster["networking"]["podSubnet"] == "10.93.0.0/16"
    join = yaml.safe_load((tmp_path / "validate" / "cp-2-join-control-plane.yaml").read_text())
    assert "certificateKey" in join["controlPlane"]
    # Check mode: nothing was written on the "nodes".
    assert not (tmp_path / "node-config").exists()
    assert "LAB STAND-IN" in result.stdout
    assert "would download https://dl.k8s.io/release/v1.34.4/bin/linux/" in result.stdout


def test_a_bad_configuration_is_refused(lab_api, tmp_path):
    inv = make_inventory(tmp_path, lab_api.kubeconfig, cps=1, workers=0, kmetal_flannel_pod_cidr="10.93.0.0/33")
    result = run(inv, "--check")
    assert result.returncode != 0
    assert "kubeadm config validate" in result.stdout and "10.93.0.0/33" in result.stdout


def test_a_version_without_a_pinned_checksum_is_refused(lab_api, tmp_path):
    inv = make_inventory(tmp_path, lab_api.kubeconfig, cps=1, workers=0, kmetal_kubernetes_version="v1.34.99")
    result = run(inv, "--check")
    assert result.returncode != 0
    assert "no pinned sha256 for kubeadm, kubelet, kubectl v1.34.99" in result.stdout
