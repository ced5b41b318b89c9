"""The lab site downloads exactly what the lab builds: its inventory's versions equal lab/versions.env."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _pins() -> dict:
    pins = {}
    for line in (REPO / "lab" / "versions.env").read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            pins[key] = value
    return pins


def test_the_lab_inventory_asks_for_the_versions_the_lab_builds():
    pins = _pins()
    downloads = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "downloads.yml").read_text())
    cluster = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "cluster.yml").read_text())
    versions = downloads["kmetal_download_versions"]
    assert cluster["kmetal_kubernetes_version"] == pins["KUBERNETES_VERSION"]
    assert versions["crictl"] == pins["CRICTL_VERSION"]
    assert versions["cni_plugins"] == pins["CNI_PLUGINS_VERSION"]
    # containerd's release files carry the version without its v.
    assert versions["containerd"] == pins["CONTAINERD_VERSION"].removeprefix("v")
    assert versions["runc"] == pins["RUNC_VERSION"]
    assert versions["kube_vip"] == pins["KUBE_VIP_VERSION"]
