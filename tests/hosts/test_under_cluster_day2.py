"""Day 2 of the under cluster, executed on one small cluster of lab hosts of its own (prefix d2: one control-plane
node, one worker, a third host added by scale), installed at the previous minor (KUBERNETES_PREVIOUS_VERSION):
scale with --limit touches only the new node; a version change through the under-cluster play is refused with a
message naming upgrade.yml; upgrade.yml moves every node, one at a time, to KUBERNETES_VERSION and a second run
changes nothing; an etcd backup is restored and brings back what was deleted after it; reset refuses to run unconfirmed (even with --limit), removes
a confirmed node from the cluster and the node joins again; a half-joined node is refused with the reset command,
reset, and joins. The tests run in file order on the same cluster."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, hosts_up, inventory, lab, playbook, ssh, wait

PREFIX = "d2"
PLAYS = REPO / "collections/ansible_collections/kmetal/platform/playbooks"
KUBECTL = REPO / ".lab" / "bin" / "kubectl"
WORKER = "d2-2"
NEW = "d2-3"
PINS = dict(line.split("=", 1) for line in (REPO / "lab" / "versions.env").read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
OLD, TARGET = PINS["KUBERNETES_PREVIOUS_VERSION"], PINS["KUBERNETES_VERSION"]


def recap(output: str) -> dict:
    """host -> {ok, changed, failed, ...} from the PLAY RECAP."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, flags=re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


def write_hosts(inv):
    """The set's current hosts (the lab rewrites them when the set grows) plus the controller for delegated tasks."""
    doc = yaml.safe_load((REPO / ".lab" / "hosts" / f"{PREFIX}.yml").read_text())
    doc["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                       "ansible_python_interpreter": str(REPO / ".venv/bin/python")}
    (inv / "hosts.yml").write_text(yaml.safe_dump(doc))
    return doc


def set_version(inv, version):
    (inv / "group_vars" / "all" / "zz-version.yml").write_text(yaml.safe_dump({"kmetal_kubernetes_version": version}))


def mirror_both_versions(tmp):
    """An air-gapped upgrade: the site's mirror holds the running version's artifacts beside the target's. The
    manifest of the site at OLD (kmetal.platform.artifacts with OLD's kubeadm, which lists OLD's images) joins the
    lab's, and the mirror is filled with both (what the mirror playbook does on a real site before an upgrade).
    The tenants are left out of OLD's manifest: their versions are the lab's own, newer than OLD's kubeadm lists."""
    cache = Path(os.environ.get("KMETAL_CACHE", Path.home() / ".cache" / "kmetal"))
    old = tmp / ("manifest-%s.json" % OLD)
    proc = playbook(REPO / "inventories" / "lab" / "hosts.yml", PLAYS / "artifacts.yml", "-e", "kmetal_kubernetes_version=" + OLD, "-e", '{"kmetal_tenants": []}',
                    "-e", "artifacts_kubeadm_binary=%s" % (cache / "bin" / ("kubeadm-" + OLD)), "-e", "artifacts_manifest_path=%s" % old,
                    "-e", "artifacts_print_table=false")
    assert proc.returncode == 0, proc.stdout[-4000:]
    merged = json.loads((REPO / ".lab" / "mirror" / "manifest.json").read_text())
    keys = {"files": ("name", "arch", "version"), "images": ("ref",), "charts": ("name",), "packages": ("name",)}
    for kind, key in keys.items():
        have = {tuple(i[k] for k in key) for i in merged.get(kind, [])}
        merged[kind] = merged.get(kind, []) + [i for i in json.loads(old.read_text()).get(kind, []) if tuple(i[k] for k in key) not in have]
    (tmp / "manifest.json").write_text(json.dumps(merged))
    up = lab("mirror", "up", "--manifest", str(tmp / "manifest.json"))
    assert up.returncode == 0, up.stdout + up.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    was_running = lab("mirror", "status").returncode == 0
    up = lab("mirror", "up")
    assert up.returncode == 0, up.stderr
    tmp = tmp_path_factory.mktemp("day2")
    try:
        start = time.monotonic()
        mirror_both_versions(tmp)
        hosts = hosts_up(PREFIX, 2)
        subnet = hosts["all"]["vars"]["kmetal_lab_management_subnet"]
        vip = ".".join(subnet.split(".")[:3]) + ".10"
        kubeconfig = tmp / "admin.conf"
        inv = inventory(tmp, PREFIX)
        (inv / "group_vars" / "all" / "zz-test.yml").write_text(yaml.safe_dump({
            "kmetal_control_plane_endpoint": {"address": vip, "port": 6443, "interface": "mgmt0"},
            "under_cluster_kubeconfig": str(kubeconfig),
            "under_cluster_helm_binary": str(REPO / ".lab/bin/helm"),
            "under_cluster_flannel_chart": str(REPO / "charts/kmetal/charts/flannel"),
            "kmetal_etcd_backup_dir": str(tmp / "backups"),
        }))
        set_version(inv, OLD)
        write_hosts(inv)
        for play in ("hosts.yml", "under_cluster.yml"):
            proc = playbook(inv, PLAYS / play, timeout=1800)
            assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        print("\nd2: a 2-node under cluster on %s in %.0f s" % (OLD, time.monotonic() - start))
        yield {"inventory": inv, "kubeconfig": kubeconfig, "tmp": tmp}
    finally:
        lab("hosts", "down", "--prefix", PREFIX)
        # The lab's own manifest again (the demo's and the other tests' mirror), or no mirror as before.
        if was_running:
            lab("mirror", "up")
        else:
            lab("mirror", "down")


def kubectl(cluster, *args, check=True, stdin=None):
    proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(cluster["kubeconfig"]), *args], capture_output=True, text=True,
                          timeout=660, input=stdin)
    assert not check or proc.returncode == 0, proc.stderr
    return proc


def address(name):
    doc = yaml.safe_load((REPO / ".lab" / "hosts" / f"{PREFIX}.yml").read_text())
    groups = doc["all"]["children"]["kmetal_nodes"]["children"]
    return {n: h["ansible_host"] for g in groups.values() for n, h in (g.get("hosts") or {}).items()}[name]


def ready(cluster, node):
    kubectl(cluster, "wait", "--for=condition=Ready", "node/" + node, "--timeout=600s")


def run(cluster, play, *args, ok=True):
    start = time.monotonic()
    proc = playbook(cluster["inventory"], PLAYS / play, *args, timeout=1800)
    seconds = time.monotonic() - start
    if ok:
        assert proc.returncode == 0, "%s %s failed:\n%s\n%s" % (play, args, proc.stdout[-6000:], proc.stderr[-2000:])
    return proc, seconds


def test_scale_with_limit_joins_the_new_node_and_touches_nothing_else(cluster):
    start = time.monotonic()
    hosts_up(PREFIX, 3)
    doc = write_hosts(cluster["inventory"])
    assert NEW in doc["all"]["children"]["kmetal_nodes"]["children"]["kmetal_workers"]["hosts"]
    proc, seconds = run(cluster, "scale.yml", "--limit", NEW)
    counts = recap(proc.stdout)
    assert counts.get(NEW, {}).get("changed", 0) > 0, counts
    others = {h: c["changed"] for h, c in counts.items() if h != NEW and c["changed"]}
    assert not others, "scale --limit %s changed other hosts: %s" % (NEW, others)
    ready(cluster, NEW)
    print("\nscale: playbook %.0f s; host start + playbook + Ready %.0f s" % (seconds, time.monotonic() - start))


def test_a_version_change_outside_upgrade_yml_is_refused_and_changes_nothing(cluster):
    set_version(cluster["inventory"], TARGET)
    proc, _ = run(cluster, "under_cluster.yml", ok=False)
    assert proc.returncode != 0
    assert "runs %s and kmetal_kubernetes_version is %s" % (OLD, TARGET) in proc.stdout, proc.stdout[-3000:]
    assert "kmetal.platform.upgrade" in proc.stdout
    changed = {h: c["changed"] for h, c in recap(proc.stdout).items() if c["changed"]}
    assert not changed, changed
    assert set(kubelet_versions(cluster).values()) == {OLD}


def kubelet_versions(cluster):
    nodes = yaml.safe_load(kubectl(cluster, "get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}


def test_upgrade_moves_every_node_one_at_a_time_and_a_second_run_changes_nothing(cluster):
    set_version(cluster["inventory"], TARGET)
    proc, seconds = run(cluster, "upgrade.yml")
    assert kubelet_versions(cluster) == {"d2-1": TARGET, WORKER: TARGET, NEW: TARGET}
    config = yaml.safe_load(kubectl(cluster, "-n", "kube-system", "get", "configmap", "kubeadm-config",
                                    "-o", "jsonpath={.data.ClusterConfiguration}").stdout)
    assert config["kubernetesVersion"] == TARGET

    def images():
        return kubectl(cluster, "-n", "kube-system", "get", "pods", "-o", "jsonpath={.items[*].spec.containers[*].image}").stdout.split()

    # kube-proxy's DaemonSet rolls its pods after kubeadm changed it: wait for the roll, not a fixed time.
    assert wait(lambda: not any(i.endswith(":" + OLD) for i in images()), timeout=300, step=2), images()
    assert {"registry.k8s.io/kube-apiserver:" + TARGET, "registry.k8s.io/kube-proxy:" + TARGET} <= set(images()), images()
    # serial: 1, control plane first: each node is drained, upgraded and uncordoned before the next is drained.
    events = re.findall(r"^TASK \[kmetal\.platform\.under_cluster : Under cluster \| (drain the node|uncordon the node)\][ *]*\n"
                        r"(?:(?:FAILED - RETRYING|\[WARNING\]).*\n)*(?:changed|ok): \[(\S+?)(?: ->[^\]]*)?\]", proc.stdout, flags=re.M)
    assert events == [(step, node) for node in ("d2-1", WORKER, NEW) for step in ("drain the node", "uncordon the node")], events
    nodes = yaml.safe_load(kubectl(cluster, "get", "nodes", "-o", "json").stdout)["items"]
    assert not [n["metadata"]["name"] for n in nodes if n["spec"].get("unschedulable")]
    for node in ("d2-1", WORKER, NEW):
        ready(cluster, node)
    again, again_s = run(cluster, "upgrade.yml")
    changed = {h: c["changed"] for h, c in recap(again.stdout).items() if c["changed"]}
    assert not changed, "a second upgrade run changed %s" % changed
    print("\nupgrade %s -> %s of 3 nodes: %.0f s; second run %.0f s, no change" % (OLD, TARGET, seconds, again_s))


def test_etcd_backup_and_restore_bring_back_a_deleted_configmap(cluster):
    start = time.monotonic()
    kubectl(cluster, "create", "configmap", "kmetal-day2-probe", "-n", "default", "--from-literal=written=before-backup")
    proc, backup_s = run(cluster, "backup_etcd.yml")
    # etcdutl's `snapshot status` read the snapshot's revision and keys (a torn or empty file has none).
    assert re.search(r"etcd snapshot: \S+\s+\(revision\s+[1-9]\d*,\s+[1-9]\d*\s+keys\)", proc.stdout), proc.stdout[-3000:]
    snapshots = sorted((cluster["tmp"] / "backups").glob("etcd-d2-1-*.db"))
    assert len(snapshots) == 1, snapshots
    assert snapshots[0].stat().st_mode & 0o777 == 0o600
    assert snapshots[0].stat().st_size > 0
    kubectl(cluster, "delete", "configmap", "kmetal-day2-probe", "-n", "default")
    assert kubectl(cluster, "get", "configmap", "kmetal-day2-probe", "-n", "default", check=False).returncode != 0

    refused, _ = run(cluster, "restore_etcd.yml", "-e", "kmetal_etcd_restore_snapshot=%s" % snapshots[0], ok=False)
    assert refused.returncode != 0 and "kmetal_restore_confirm=d2-1" in refused.stdout, refused.stdout[-3000:]
    assert kubectl(cluster, "get", "configmap", "kmetal-day2-probe", "-n", "default", check=False).returncode != 0

    _, restore_s = run(cluster, "restore_etcd.yml", "-e", "kmetal_etcd_restore_snapshot=%s" % snapshots[0],
                       "-e", "kmetal_restore_confirm=d2-1")
    back = wait(lambda: kubectl(cluster, "get", "configmap", "kmetal-day2-probe", "-n", "default", "-o", "jsonpath={.data.written}",
                                check=False).stdout == "before-backup", timeout=300, step=2)
    assert back, "the ConfigMap deleted after the backup is not back after the restore"
    for node in ("d2-1", WORKER, NEW):
        ready(cluster, node)
    print("\netcd: backup %.0f s, restore %.0f s, whole step %.0f s" % (backup_s, restore_s, time.monotonic() - start))


def test_reset_without_its_confirmation_fails_and_changes_nothing_even_with_limit(cluster):
    proc, _ = run(cluster, "reset.yml", "--limit", WORKER, ok=False)
    assert proc.returncode != 0
    assert "kmetal_reset_confirm=%s" % WORKER in proc.stdout, proc.stdout[-3000:]
    assert recap(proc.stdout).get(WORKER, {}).get("changed", 0) == 0
    assert ssh(address(WORKER), "test -e /etc/kubernetes/kubelet.conf").returncode == 0
    ready(cluster, WORKER)


def test_a_confirmed_reset_removes_the_node_and_it_joins_again(cluster):
    start = time.monotonic()
    _, reset_s = run(cluster, "reset.yml", "--limit", WORKER, "-e", "kmetal_reset_confirm=%s" % WORKER)
    gone = kubectl(cluster, "get", "node", WORKER, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone.stdout + gone.stderr
    assert ssh(address(WORKER), "test -e /etc/kubernetes/kubelet.conf").returncode != 0
    _, join_s = run(cluster, "scale.yml", "--limit", WORKER)
    ready(cluster, WORKER)
    print("\nreset %.0f s, re-join %.0f s, whole step %.0f s" % (reset_s, join_s, time.monotonic() - start))


def test_a_half_joined_node_is_refused_with_the_reset_command_then_reset_and_joined(cluster):
    start = time.monotonic()
    # A kubelet.conf with no Node object: the kubelet stopped (it would register itself again), the Node deleted.
    assert ssh(address(NEW), "systemctl stop kubelet").returncode == 0
    kubectl(cluster, "delete", "node", NEW)
    refused, _ = run(cluster, "under_cluster.yml", "--limit", NEW, ok=False)
    assert refused.returncode != 0
    command = "kmetal.platform.reset --limit %s -e kmetal_reset_confirm=%s" % (NEW, NEW)
    assert command in refused.stdout, refused.stdout[-3000:]
    assert recap(refused.stdout).get(NEW, {}).get("changed", 0) == 0
    run(cluster, "reset.yml", "--limit", NEW, "-e", "kmetal_reset_confirm=%s" % NEW)
    run(cluster, "scale.yml", "--limit", NEW)
    ready(cluster, NEW)
    print("\nhalf-joined node refused, reset and joined in %.0f s" % (time.monotonic() - start))
