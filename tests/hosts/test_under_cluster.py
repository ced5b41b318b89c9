"""The under cluster for real, highly available: the product's hosts and under_cluster plays on four fresh lab hosts
(an air-gapped site served by the lab mirror) run kubeadm init through the kube-vip VIP, two control-plane joins
and a worker join. `--check` on the fresh hosts first predicts what the real run changes; then every node is Ready,
etcd has three members, CoreDNS answers, Flannel has a release of its own with an MTU that follows the underlay, two
pods on different nodes reach each other, and a second run changes nothing."""

import json
import os
import subprocess

import pytest
import yaml
from helpers import REPO, VENV_BIN, hosts_up, inventory, lab, playbook, recap, ssh, wait

PREFIX = "uc"
PLAYS = REPO / "collections/ansible_collections/kmetal/platform/playbooks"
KUBECTL = REPO / ".lab" / "bin" / "kubectl"
PROBE_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"  # in the mirror; busybox sh and nc inside
CONTROL_PLANES, WORKERS = ("uc-1", "uc-2", "uc-3"), ("uc-4",)
# What a dry run cannot foresee because it only happens for real: kubeadm's own commands (a command is skipped in
# check mode), the join credentials made for them, the kubeconfig and Flannel that need the cluster that init makes.
REAL_ONLY = {
    "Under cluster | credentials of the first init",
    "Under cluster | initialise the first control-plane node",
    "Under cluster | create a bootstrap token",
    "Under cluster | upload the control-plane certificates",
    "Under cluster | kubeadm join",
    "Under cluster | keep kube-vip on a joined control-plane node",
    "Under cluster | switch kube-vip to admin.conf now that init is done",
    "Under cluster | fetch admin.conf",
    "Under cluster | Flannel's release",
    # Commands a dry run skips; it predicts the change that triggers them (the mirror's CA file, the networkd files).
    "Host prep | refresh the trust store",
    "Host network | arm the rollback timer and reload, detached, with networkd",
}


def run_json(inv, play, *args):
    """ansible-playbook with the JSON callback: (rc, {host: set of changed task names}, raw output)."""
    env = {**os.environ, "PATH": "%s%s%s" % (VENV_BIN, os.pathsep, os.environ["PATH"]), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(play), *args], capture_output=True, text=True,
                          timeout=1800, env=env, cwd=REPO)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        pytest.fail("no JSON from ansible-playbook (rc %s): %s %s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    changed = {}
    for p in doc["plays"]:
        for t in p["tasks"]:
            for host, result in t["hosts"].items():
                items = result.get("results") or [result]
                if result.get("changed") or any(r.get("changed") for r in items if isinstance(r, dict)):
                    changed.setdefault(host, set()).add(t["task"]["name"].split(" : ", 1)[-1])
    return proc.returncode, changed, proc.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    was_running = lab("mirror", "status").returncode == 0
    up = lab("mirror", "up")
    assert up.returncode == 0, up.stderr
    tmp = tmp_path_factory.mktemp("under-cluster")
    try:
        hosts = hosts_up(PREFIX, 4)
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
        every = {name: h for g in doc["all"]["children"]["kmetal_nodes"]["children"].values() for name, h in (g.get("hosts") or {}).items()}
        doc["all"]["children"]["kmetal_nodes"]["children"] = {
            "kmetal_control_plane": {"hosts": {n: every[n] for n in CONTROL_PLANES}},
            "kmetal_workers": {"hosts": {n: every[n] for n in WORKERS}},
        }
        doc["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                           "ansible_python_interpreter": str(REPO / ".venv/bin/python")}
        hosts_file.write_text(yaml.safe_dump(doc))
        predicted, real = {}, {}
        for play in ("hosts.yml", "under_cluster.yml"):
            rc, changed, out = run_json(inv, PLAYS / play, "--check", "--diff")
            assert rc == 0, "--check --diff of %s on fresh hosts failed:\n%s" % (play, out[-6000:])
            for host, tasks in changed.items():
                predicted.setdefault(host, set()).update(tasks)
        for play in ("hosts.yml", "under_cluster.yml"):
            rc, changed, out = run_json(inv, PLAYS / play)
            assert rc == 0, "%s failed:\n%s" % (play, out[-8000:])
            for host, tasks in changed.items():
                real.setdefault(host, set()).update(tasks)
        yield {"inventory": inv, "kubeconfig": kubeconfig, "vip": vip, "addresses": {n: every[n]["ansible_host"] for n in every},
               "predicted": predicted, "real": real}
    finally:
        lab("hosts", "down", "--prefix", PREFIX)
        if not was_running:
            lab("mirror", "down")


def kubectl(cluster, *args, check=True):
    proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(cluster["kubeconfig"]), *args], capture_output=True, text=True, timeout=120)
    assert not check or proc.returncode == 0, proc.stderr
    return proc


def addresses(cluster):
    return cluster["addresses"]


def test_check_mode_on_fresh_hosts_predicts_what_the_first_run_changes(cluster):
    predicted, real = cluster["predicted"], cluster["real"]
    problems = []
    for host in sorted(set(predicted) | set(real)):
        wrong = predicted.get(host, set()) - real.get(host, set())
        if wrong:
            problems.append("%s: --check predicted changes the real run did not make: %s" % (host, sorted(wrong)))
        unforeseen = real.get(host, set()) - predicted.get(host, set()) - REAL_ONLY
        if unforeseen:
            problems.append("%s: the real run changed what --check did not predict: %s" % (host, sorted(unforeseen)))
    assert not problems, "\n".join(problems)
    print("\n--check predicted %d changed tasks; the real run changed %d (kubeadm's own steps only for real)"
          % (sum(map(len, predicted.values())), sum(map(len, real.values()))))


def test_three_control_planes_behind_the_vip_with_three_etcd_members(cluster):
    nodes = json.loads(kubectl(cluster, "get", "nodes", "-l", "node-role.kubernetes.io/control-plane", "-o", "json").stdout)["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(CONTROL_PLANES)
    etcd = json.loads(kubectl(cluster, "-n", "kube-system", "get", "pods", "-l", "component=etcd", "-o", "json").stdout)["items"]
    assert sorted(p["spec"]["nodeName"] for p in etcd if p["status"]["phase"] == "Running") == sorted(CONTROL_PLANES)
    vips = [name for name, address in addresses(cluster).items()
            if any(a.get("local") == cluster["vip"] for link in json.loads(ssh(address, "ip -j addr show mgmt0").stdout)
                   for a in link["addr_info"])]
    assert len(vips) == 1 and vips[0] in CONTROL_PLANES, "exactly one control-plane node holds the VIP: %s" % vips


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
    workers = [WORKERS[0], CONTROL_PLANES[1]]  # nodeName places a pod on a control-plane node too
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
