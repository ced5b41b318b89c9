"""Lab hosts a kubelet can run in: what the probe of a real kubeadm cluster in the lab hosts needed, checked from
inside two hosts of one set (over SSH) and from this machine: the kernel settings the kubelet insists on, a private
writable cgroup subtree per host, the kernel log, containerd's data off the overlay root, the host's own resolver,
the egress guard in each namespace, and a teardown of hosts running pods that takes seconds and leaves nothing."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from helpers import REPO, hosts_up, lab, ssh

PREFIX = "kubeready"
CONTROLLERS = ("cpuset", "memory", "pids", "cpu")
LAB_RANGE = "198.18.0.0/15"


def _state() -> dict:
    return json.loads((REPO / ".lab" / "hosts" / "state.json").read_text())["sets"][PREFIX]


@pytest.fixture(scope="module")
def hosts():
    started = time.monotonic()
    inv = hosts_up(PREFIX, 2)
    print(f"\nlab hosts: 2 hosts of {PREFIX} up in {time.monotonic() - started:.1f} s")
    groups = inv["all"]["children"]["kmetal_nodes"]["children"]
    found = {name: h["ansible_host"] for g in groups.values() for name, h in (g["hosts"] or {}).items()}
    assert sorted(found) == [f"{PREFIX}-1", f"{PREFIX}-2"]
    yield found
    lab("hosts", "down", "--prefix", PREFIX)


def _run(address: str, command: str) -> str:
    out = ssh(address, command)
    assert out.returncode == 0, f"{command}: {out.stderr or out.stdout}"
    return out.stdout


def test_kubelet_kernel_settings_read_as_the_kubelet_wants_them(hosts):
    want = {"/proc/sys/vm/overcommit_memory": "1", "/proc/sys/kernel/panic": "10", "/proc/sys/kernel/panic_on_oops": "1"}
    for address in hosts.values():
        got = dict(zip(want, _run(address, "cat " + " ".join(want)).split()))
        assert got == want
        # The rest of /proc/sys stays this machine's kernel, read-only from the host.
        assert ssh(address, "echo 1 > /proc/sys/kernel/sysrq").returncode != 0


def test_cgroup_controllers_writable_and_private_to_each_host(hosts):
    (one, a), (two, b) = sorted(hosts.items())
    name = "kubepods-kubeready-test"
    try:
        for c in CONTROLLERS:
            made = ssh(a, f"mkdir /sys/fs/cgroup/{c}/{name}")
            assert made.returncode == 0, f"{one}: mkdir in the {c} controller: {made.stderr}"
        # The other host's kubelet would see (and clean up) this one's pods if their subtrees were shared.
        for c in CONTROLLERS:
            assert name not in _run(b, f"ls /sys/fs/cgroup/{c}").split(), f"{two} sees {one}'s {c} cgroup"
        # From this machine: inside the host's own cgroup, not in the caller's (shared) one.
        dirs = _state()["hosts"][one]["cgroups"]
        for c in CONTROLLERS:
            assert any(Path(d, name).is_dir() and Path(d).parts[4] == c for d in dirs), f"{c}: not below {one}'s cgroup"
        # Made writable by a unit of the host's own (at every boot of the host), before the runtime and the kubelet.
        before = _run(a, "systemctl show -p Before --value kmetal-lab-cgroups.service").split()
        assert {"containerd.service", "kubelet.service"} <= set(before)
    finally:
        ssh(a, " ".join(f"rmdir /sys/fs/cgroup/{c}/{name};" for c in CONTROLLERS))


def test_kernel_log_is_readable(hosts):
    for address in hosts.values():
        assert _run(address, "stat -c %t:%T /dev/kmsg").strip() == "1:b"  # the kernel's own device, not a stand-in
        assert _run(address, "timeout 10 dd if=/dev/kmsg bs=8192 count=1 status=none | head -c 200").strip()


def test_containerd_and_kubelet_data_are_not_on_the_overlay_root(hosts):
    for address in hosts.values():
        assert _run(address, "stat -f -c %T /").strip() == "overlayfs"  # the root is, on purpose (shared cache)
        for path in ("/var/lib/containerd", "/var/lib/kubelet"):
            assert _run(address, f"stat -f -c %T {path}").strip() != "overlayfs", path


def test_resolver_is_the_hosts_own_not_this_machines(hosts):
    machine = Path("/etc/resolv.conf").read_text()
    servers = {line.split()[1] for line in machine.splitlines() if line.startswith("nameserver")}
    for address in hosts.values():
        theirs = _run(address, "cat /etc/resolv.conf")
        assert theirs != machine
        assert not servers & {line.split()[1] for line in theirs.splitlines() if line.startswith("nameserver")}


def test_egress_guard_in_each_hosts_namespace(hosts):
    for rec in _state()["hosts"].values():
        out = subprocess.run(["ip", "netns", "exec", rec["netns"], "nft", "-j", "list", "ruleset"],
                             capture_output=True, text=True, check=True)
        items = json.loads(out.stdout)["nftables"]
        sets = [i["set"] for i in items if "set" in i]
        elements = {json.dumps(e) for s in sets for e in s.get("elem", [])}
        assert json.dumps({"prefix": {"addr": "198.18.0.0", "len": 15}}) in elements, f"{rec['name']}: lab range not accepted"
        chains = {i["chain"]["name"]: i["chain"] for i in items if "chain" in i}
        for hook in ("output", "forward"):
            chain = next((c for c in chains.values() if c.get("hook") == hook), None)
            assert chain is not None, f"{rec['name']}: no {hook} chain"
            rules = [i["rule"] for i in items if "rule" in i and i["rule"]["chain"] == chain["name"]]
            assert any("accept" in r["expr"][-1] and "@" in json.dumps(r["expr"]) for r in rules), f"{hook}: the allowed set"
            assert "drop" in rules[-1]["expr"][-1], f"{rec['name']}: {hook} does not end in a drop"


def _set_processes() -> dict:
    """(pid -> start time) of every process in the set's network namespaces: nspawn, the hosts' inits, their pods."""
    inodes = {os.stat(f"/run/netns/{rec['netns']}").st_ino for rec in _state()["hosts"].values()}
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.stat(proc / "ns" / "net").st_ino in inodes:
                found[int(proc.name)] = (proc / "stat").read_text().rsplit(")", 1)[1].split()[19]
        except OSError:
            continue
    return found


def _still_there(procs: dict) -> list[int]:
    """Those of PROCS still running (a zombie has ended: it waits only for its parent, here not `lab`, to reap it)."""
    left = []
    for pid, start in procs.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if fields[19] == start and fields[0] not in "ZX":
                left.append(pid)
        except OSError:
            continue
    return left


def test_down_of_hosts_running_pods_leaves_nothing(hosts):
    # A "pod" on each host: its own cgroups below kubepods and its own PID namespace, run by a unit that, like a
    # kubelet's pods, holds the host's shutdown up (it ignores SIGTERM: systemd waits 90 s before killing it).
    pod = "kubepods-kubeready/pod1"
    script = "".join(f"mkdir -p /sys/fs/cgroup/{c}/{pod}; echo $$ > /sys/fs/cgroup/{c}/{pod}/cgroup.procs\n" for c in CONTROLLERS)
    script += "trap '' TERM\nexec unshare -fp sleep infinity\n"
    start = (f"cat > /root/kubeready-pod.sh <<'EOF'\n{script}EOF\n"
             "systemd-run --quiet --unit kubeready-pod -p TimeoutStopSec=90 /bin/sh /root/kubeready-pod.sh")
    for address in hosts.values():
        _run(address, start)
        assert _run(address, f"timeout 60 sh -c 'until grep -q . /sys/fs/cgroup/pids/{pod}/cgroup.procs; do sleep 0.2; done; "
                             f"cat /sys/fs/cgroup/pids/{pod}/cgroup.procs'").split()
    procs = _set_processes()
    assert len(procs) > 2 * 3
    state = _state()["hosts"]
    cgroup_dirs = [d for rec in state.values() for d in rec.get("cgroups", [])]
    host_dirs = [rec["dir"] for rec in state.values()]
    started = time.monotonic()
    down = lab("hosts", "down", "--prefix", PREFIX)
    print(f"\nlab hosts: down of 2 hosts running pods took {time.monotonic() - started:.1f} s")
    assert down.returncode == 0, down.stderr
    assert _still_there(procs) == [], "processes of the set outlived `down`"
    assert cgroup_dirs and not [d for d in cgroup_dirs if Path(d).exists()]
    assert not [d for d in host_dirs if Path(d).exists()]
