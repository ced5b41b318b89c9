"""The platform role against the lab API: install, a second run that changes nothing, and --check --diff that
shows what a change would do to the release. Under a release, namespace and glue names of the test's own."""

import json
import os
import subprocess
import uuid

import kmetal_platform_helpers as c

PLAYBOOK = c.REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "playbooks" / "platform.yml"
INVENTORY = c.REPO / "inventories" / "lab" / "hosts.yml"


GLUE_ONLY = {"flannel": False, "kube_ovn": False, "multus": True, "metallb": False, "kubevirt": True, "cdi": True, "kamaji": False,
             "capi": False, "cert_manager": False, "local_path": False, "flux": False,
             "glue": {"cluster_class": True, "data_store": True, "metallb_pools": True, "capi_providers": True, "cluster_issuer": True,
                      "cluster_role": True, "provider_network": True, "kamaji_addon_ovn": True}}


def run(lab_api, extra: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}
    # The lab API has no nodes and runs no webhooks: the sub-charts stay off (their webhook configurations would
    # break every other test), the glue is judged by the real CRD schemas, and the phases do not wait.
    extra = {"kmetal_kubeconfig": str(lab_api.kubeconfig), "platform_wait": False, "kmetal_platform_components": GLUE_ONLY,
             "kmetal_platform_dry_run_only": {}, "kmetal_platform_crd_files": [], **extra}
    return subprocess.run(["ansible-playbook", "-i", str(INVENTORY), str(PLAYBOOK), "-e", json.dumps(extra), *args],
                          capture_output=True, text=True, env=env, cwd=c.REPO, timeout=300)


def recap_changed(out: str) -> int:
    line = next(line for line in out.splitlines() if line.startswith("localhost") and "changed=" in line)
    return int(line.split("changed=")[1].split()[0])


def test_install_idempotent_and_check_diff(lab_api, namespace):
    suffix = uuid.uuid4().hex[:6]
    release = f"t-{suffix}"
    extra = {
        "platform_release_name": release,
        "platform_release_namespace": namespace,
        "kmetal_platform_values_overrides": {
            "capi": {"namespace": namespace},
            "kubevirt": {"namespace": namespace},
            "cdi": {"enabled": False},
            "network": {"providerNetwork": {"name": f"t{suffix}"}},
            "glue": {"dataStore": {"name": f"t-{suffix}"}, "clusterIssuer": {"name": f"t-{suffix}"},
                     "clusterRole": {"name": f"t-{suffix}"}},
        },
    }
    try:
        first = run(lab_api, extra)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        assert recap_changed(first.stdout) >= 1
        got = c.kubectl(lab_api.kubeconfig, "get", "clusterclass.cluster.x-k8s.io", "kubevirt-kubeadm", "-n", namespace,
                        "-o", "name", check=False)
        assert got.returncode == 0, got.stderr

        second = run(lab_api, extra)
        assert second.returncode == 0, second.stdout[-4000:]
        assert recap_changed(second.stdout) == 0, second.stdout[-4000:]

        changed = {**extra, "kmetal_tenant_defaults": {"worker_image": "registry.example.com/worker:v2", "worker_size": "medium"}}
        check = run(lab_api, changed, "--check", "--diff")
        assert check.returncode == 0, check.stdout[-4000:]
        assert "+                    url: \"docker://registry.example.com/worker:v2\"" in check.stdout or \
            "docker://registry.example.com/worker:v2" in check.stdout
        assert "would change" in check.stdout
        # Check mode changed nothing in the release.
        values = c.helm("get", "values", release, "-n", namespace, "--kubeconfig", str(lab_api.kubeconfig), "-o", "json").stdout
        assert json.loads(values)["tenants"]["defaults"]["workerSize"] == "small"
    finally:
        c.helm("uninstall", release, "--namespace", namespace, "--kubeconfig", str(lab_api.kubeconfig), check=False)


def test_air_gapped_chart_from_a_local_directory(lab_api, namespace, tmp_path):
    """source local: the packaged chart (charts/vendor.sh --package DIR) is what gets rendered; in check mode
    nothing is installed."""
    packaged = tmp_path / "charts"
    subprocess.run([str(c.VENDOR), "--package", str(packaged)], check=True, capture_output=True, text=True, timeout=300)
    assert (packaged / "kmetal-0.1.0.tgz").exists()
    extra = {"platform_release_name": "t-local", "platform_release_namespace": namespace,
             "kmetal_chart": {"source": "local", "dir": str(packaged), "version": "0.1.0"}}
    check = run(lab_api, extra, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-4000:]
    assert f"from {packaged}/kmetal-0.1.0.tgz (local): would change" in check.stdout.replace("\n        ", " ")
    assert "kind: ClusterClass" in check.stdout
    listed = c.helm("list", "-n", namespace, "--kubeconfig", str(lab_api.kubeconfig), "-q").stdout
    assert "t-local" not in listed

    missing = run(lab_api, {**extra, "kmetal_chart": {"source": "local", "dir": str(tmp_path / "nowhere"), "version": "0.1.0"}}, "--check")
    assert missing.returncode != 0 and "charts/vendor.sh --package" in missing.stdout
