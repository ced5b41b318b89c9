"""The under cluster for real: the product's hosts and under_cluster plays on three fresh lab hosts (an air-gapped
site served by the lab mirror) run kubeadm init through the kube-vip VIP and two joins; every node is Ready,
CoreDNS answers, Flannel has a release of its own with an MTU that follows the underlay, two pods on different
nodes reach each other, and a second run changes nothing."""

import json
import os
import re
import subprocess

import pytest
import yaml
from helpers import REPO, hosts_up, inventory, lab, playbook, ssh, wait

PREFIX = "uc"
PLAYS = REPO / "collections/ansible_collections/kmetal/platform/playbooks"
KUBECTL = REPO / ".lab" / "bin" / "kubectl"
PROBE_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"  # in the mirror; busybox sh and nc inside


def recap(output: str) -> dict:
    """host -> {ok, changed, failed, ...} from the PLAY RECAP."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, flags=re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    was_running = lab("mirror", "status").returncode == 0
    up = lab("mirror", "up")
    assert up.returncode == 0, up.stderr
    tmp = tmp_path_factory.mktemp("under-cluster")
    try:
        hosts = hosts_up(PREFIX, 3)
        subnet = hosts["all"]["vars"]["kmetal_lab_management_subnet"]
        vip = ".".join(subnet.split(".")[:3]) + ".10"  # the set's .10, as the demo's 198.18.1.10
        kubeconfig = tmp / "admin.conf"
        inv = inventory(tmp, PREFIX)
        (inv / "group_vars" / "all" / "zz-test.yml").write_text(yaml.safe_dump({
            "kmetal_control_plane_endpoint": {"address": vip, "port": 6443, "interface": "mgmt0"},
            "under_cluster_kubeconfig": str(kubeconfig),
            "under_cluster_helm_binary": str(REPO / ".lab/bin/helm"),
            "under_cluster_flannel_chart": str(REPO / "charts/kmetal/charts/flannel"),
        }))
        hosts_file = inv / "hosts.yml"
        doc = yaml.safe_load(hosts_file.read_text())
        doc["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                           "ansible_python_interpreter": str(REPO / ".venv/bin/python")}
        hosts_file.write_text(yaml.safe_dump(doc))
        plays = []
        for play in ("hosts.yml", "under_cluster.yml"):
            proc = playbook(inv, PLAYS / play, timeout=1800)
            plays.append(proc)
            assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
        yield {"inventory": inv, "kubeconfig": kubeconfig, "vip": vip, "hosts": hosts, "first": plays}
    finally:
        lab("hosts", "down", "--prefix", PREFIX)
        if not was_running:
            lab("mirror", "down")


def kubectl(cluster, *args, check=True):
    proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(cluster["kubeconfig"]), *args], capture_output=True, text=True, timeout=120)
    assert not check or proc.returncode == 0, proc.stderr
    return proc


def addresses(cluster):
    groups = cluster["hosts"]["all"]["children"]["kmetal_nodes"]["children"]
    return {name: h["ansible_host"] for g in groups.values() for name, h in (g.get("hosts") or {}).items()}


def test_every_node_is_ready_and_coredns_answers(cluster):
    nodes = json.loads(kubectl(cluster, "get", "nodes", "-o", "json").stdout)["items"]
    ready = {n["metadata"]["name"]: [c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"][0] for n in nodes}
    assert ready == {name: "True" for name in addresses(cluster)}
    print("\n" + kubectl(cluster, "get", "nodes", "-o", "wide").stdout)
    dns = json.loads(kubectl(cluster, "-n", "kube-system", "get", "deployment", "coredns", "-o", "json").stdout)
    assert dns["status"].get("availableReplicas", 0) >= 1


def test_the_kubeconfig_is_private_and_talks_to_the_vip(cluster):
    assert cluster["kubeconfig"].stat().st_mode & 0o777 == 0o600
    server = yaml.safe_load(cluster["kubeconfig"].read_text())["clusters"][0]["cluster"]["server"]
    assert server == "https://%s:6443" % cluster["vip"]


def test_flannel_has_its_own_release_and_follows_the_underlay_mtu(cluster):
    helm = subprocess.run([str(REPO / ".lab/bin/helm"), "--kubeconfig", str(cluster["kubeconfig"]), "list", "-A", "-o", "json"],
                          capture_output=True, text=True, timeout=120)
    releases = {(r["namespace"], r["name"]) for r in json.loads(helm.stdout)}
    assert ("kube-flannel", "flannel") in releases, releases
    for name, address in addresses(cluster).items():
        links = {link["ifname"]: link["mtu"] for link in json.loads(ssh(address, "ip -j link").stdout)}
        assert links["flannel.1"] == links["data0"] - 50, "%s: flannel.1 %s, data0 %s" % (name, links["flannel.1"], links["data0"])


def test_two_pods_on_different_nodes_reach_each_other(cluster):
    workers = sorted(n for n in addresses(cluster) if n != sorted(addresses(cluster))[0])
    ns = "kmetal-e2e"
    kubectl(cluster, "create", "namespace", ns, check=False)
    for name, node, cmd in (("server", workers[0], "while true; do echo pong | nc -l -p 8080; done"),
                            ("client", workers[1], "sleep 3600")):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
               "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "c", "image": PROBE_IMAGE, "command": ["sh", "-c", cmd]}]}}
        subprocess.run([str(KUBECTL), "--kubeconfig", str(cluster["kubeconfig"]), "apply", "-f", "-"], input=json.dumps(pod),
                       capture_output=True, text=True, check=True, timeout=60)
    kubectl(cluster, "-n", ns, "wait", "--for=condition=Ready", "pod/server", "pod/client", "--timeout=300s")
    server_ip = kubectl(cluster, "-n", ns, "get", "pod", "server", "-o", "jsonpath={.status.podIP}").stdout
    answered = wait(lambda: "pong" in kubectl(cluster, "-n", ns, "exec", "client", "--", "sh", "-c",
                                              "nc -w 3 %s 8080 </dev/null" % server_ip, check=False).stdout, timeout=60, step=1)
    assert answered, "the client pod on %s got no answer from the server pod %s on %s" % (workers[1], server_ip, workers[0])
    kubectl(cluster, "delete", "namespace", ns, "--wait=false")


def test_a_second_run_changes_nothing(cluster):
    for play in ("hosts.yml", "under_cluster.yml"):
        proc = playbook(cluster["inventory"], PLAYS / play, timeout=1800)
        assert proc.returncode == 0, proc.stdout[-4000:]
        changed = {h: c["changed"] for h, c in recap(proc.stdout).items() if c["changed"]}
        assert not changed, "%s changed on the second run: %s\n%s" % (play, changed, proc.stdout[-6000:])
