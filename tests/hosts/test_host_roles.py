"""The host roles on lab hosts, for what molecule expresses badly: --check changing nothing on fresh hosts, and
the rollback of a change that cuts the management path, timed."""

import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from helpers import REPO, hosts_up, inventory, lab, playbook, ssh, wait

HOSTS_PLAYBOOK = REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "playbooks" / "hosts.yml"
SNAPSHOT = (
    # Ansible's own footprint (its temporary files under /root/.ansible and /tmp) is not a change by a role.
    "find / -xdev -newer /run/kmetal-test-marker -not -path /root -not -path /tmp -not -path '/proc/*' -not -path '/sys/*' -not -path '/run/*' "
    "-not -path '/tmp/*' -not -path '/var/tmp/*' -not -path '/root/.ansible*' -not -path '/var/log/*' "
    "-not -path '/var/lib/systemd/*' -not -path '/var/cache/*' 2>/dev/null | sort; "
    "ip -br addr; ip -br link; systemctl list-units --state=active --no-legend --plain | awk '{print $1}' | grep -v '^session-' | sort"
)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    prefix = "t-check"
    inv = hosts_up(prefix, 2)
    yield inv, inventory(tmp_path_factory.mktemp("check"), prefix)
    lab("hosts", "down", "--prefix", prefix)


def _addresses(inv):
    groups = inv["all"]["children"]["kmetal_nodes"]["children"]
    return [h["ansible_host"] for g in groups.values() for h in (g["hosts"] or {}).values()]


def _task(stdout: str, name: str) -> str:
    """The result lines of the task NAME in ansible-playbook's output (hosts in the order they finished)."""
    match = re.search(r"TASK \[[^\]]*" + re.escape(name) + r"\] \**\n(.*?)(?=\nTASK \[|\nRUNNING HANDLER|\nPLAY RECAP)", stdout, re.S)
    assert match, f"no task {name!r} in the output:\n{stdout[-3000:]}"
    return match.group(1)


def test_check_mode_changes_nothing_on_fresh_hosts(fresh):
    """--check on fresh hosts completes, predicts the changes and changes nothing (C1). The first host has no chrony
    yet (a Debian server install has none; the run would install it): the check tolerates its missing unit and its
    empty package index. Both hosts' mgmt0 is ifupdown's: the takeover is predicted, not done."""
    inv, path = fresh
    addresses = _addresses(inv)
    inv_names = [n for g in inv["all"]["children"]["kmetal_nodes"]["children"].values() for n, h in (g["hosts"] or {}).items()]
    assert ssh(addresses[0], "dpkg --purge chrony >/dev/null && ! test -e /lib/systemd/system/chrony.service").returncode == 0
    for a in addresses:
        assert ssh(a, "touch /run/kmetal-test-marker; sleep 1").returncode == 0
    before = {a: ssh(a, SNAPSHOT).stdout for a in addresses}
    run = playbook(path, HOSTS_PLAYBOOK, "--check", "--diff")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    # --diff shows what would change: the rendered network files, sysctl, containerd's config.
    for expected in ("50-kmetal-data0.network", "+MTUBytes=9100", "+net.ipv4.ip_forward = 1", "+        SystemdCgroup = "):  # false in the lab (cgroupfs on cgroup v1)
        assert expected in run.stdout, expected
    assert re.search(r"changed=[1-9]", run.stdout)
    assert "would refresh the empty package index and install chrony" in run.stdout, run.stdout[-4000:]
    time_sync = _task(run.stdout, "say what a run would do for time sync (--check, chrony not installed yet)")
    # Only the host without chrony says it; the other one checks its real unit.
    assert sorted(re.findall(r"^(\w+): \[(\S+)\]", time_sync, re.M)) == [("changed", inv_names[0]), ("skipping", inv_names[1])], time_sync
    takeover = _task(run.stdout, "take the profiled interfaces over from ifupdown")
    assert sorted(re.findall(r"^(\w+): \[(\S+)\]", takeover, re.M)) == [("changed", n) for n in sorted(inv_names)], takeover
    after = {a: ssh(a, SNAPSHOT).stdout for a in addresses}
    for a in addresses:
        diff = "\n".join(difflib.unified_diff(before[a].splitlines(), after[a].splitlines(), "before --check", "after --check", lineterm=""))
        assert not diff, f"{a} changed under --check:\n{diff}"


def test_a_change_that_cuts_the_management_path_rolls_back_by_itself(tmp_path):
    prefix = "t-rollback"
    inv = hosts_up(prefix, 1)
    try:
        address = _addresses(inv)[0]
        timeout = 10
        path = inventory(tmp_path, prefix, {"host_network_rollback_timeout": timeout, "host_network_confirm_timeout": 5,
                                            "host_network_jumbo_check": False})
        play = tmp_path / "network.yml"
        play.write_text(yaml.safe_dump([{"name": "Network", "hosts": "kmetal_nodes", "gather_facts": False,
                                         "roles": ["kmetal.platform.host_network"]}]))
        # The setup run and the re-run keep the management path: a long timer, so that a loaded machine's slow
        # confirm cannot race the 10 s one the cutting change is tested with.
        patient = ("-e", "host_network_rollback_timeout=120")
        good = playbook(path, play, *patient)
        assert good.returncode == 0, good.stdout[-3000:]
        cut = tmp_path / "cut.yml"
        cut.write_text(yaml.safe_dump({"host_network_profiles": [{"name": "mgmt0", "addresses": ["198.18.251.10/24"]}]}))
        start = time.monotonic()
        bad = playbook(path, play, "-e", f"@{cut}")
        elapsed = time.monotonic() - start
        assert bad.returncode != 0
        text = " ".join(bad.stdout.split())
        match = re.search(r"restored its previous configuration by itself ([0-9.]+)s after the change .* reachable again ([0-9.]+)s after it", text)
        assert match, text[-3000:]
        restored, reachable = float(match.group(1)), float(match.group(2))
        print(f"\nrollback: restored {restored}s after the change (timer {timeout}s); reachable again after {reachable}s; run {elapsed:.1f}s")
        assert timeout - 1 <= restored <= timeout + 3
        assert reachable <= timeout + 15
        # The host is back on its management address with its previous configuration, and a re-run is clean.
        assert address in ssh(address, "ip -br addr show mgmt0").stdout
        again = playbook(path, play, *patient)
        assert again.returncode == 0 and re.search(r"changed=0\s", again.stdout), again.stdout[-3000:]
    finally:
        lab("hosts", "down", "--prefix", prefix)


@pytest.fixture
def cpu_load():
    """A bounded busy loop on every core beside the test: the machine a customer's controller runs on is busy too."""
    # Each loop in a session of its own, killed as a group: killing `timeout` alone would leave its busy child
    # running for the rest of the test run (and holding the run's output open).
    procs = [subprocess.Popen(["timeout", "300", "sh", "-c", "while :; do :; done"], start_new_session=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(os.cpu_count() or 2)]
    yield
    for proc in procs:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_change_is_confirmed_only_once_it_is_live(tmp_path, cpu_load):
    """The renderer configures links after its reload command returns: here networkctl itself returns at once and
    does its work 15 s later (under CPU load). The change must not be confirmed (its rollback disarmed) before the new address is live."""
    prefix = "t-settle"
    inv = hosts_up(prefix, 1)
    try:
        address = _addresses(inv)[0]
        extra = address.rsplit(".", 1)[0] + ".99/24"
        path = inventory(tmp_path, prefix, {"host_network_rollback_timeout": 120, "host_network_confirm_timeout": 60,
                                            "host_network_jumbo_check": False})
        play = tmp_path / "network.yml"
        play.write_text(yaml.safe_dump([{"name": "Network", "hosts": "kmetal_nodes", "gather_facts": False,
                                         "roles": ["kmetal.platform.host_network"]}]))
        good = playbook(path, play)
        assert good.returncode == 0, good.stdout[-3000:]
        # A late networkctl, first in the PATH of the detached reload unit.
        # (A transient timer, outside the reload unit's cgroup, which systemd empties when the reload returns.)
        shim = "#!/bin/sh\nexec systemd-run --quiet --collect --on-active=15 /usr/bin/networkctl \"$@\"\n"
        assert ssh(address, f"printf '%s' '{shim}' > /usr/local/bin/networkctl && chmod 0755 /usr/local/bin/networkctl").returncode == 0
        change = tmp_path / "change.yml"
        change.write_text(yaml.safe_dump({"host_network_profiles": [{"name": "mgmt0", "addresses": [f"{address}/24", extra]}]}))
        run = playbook(path, play, "-e", f"@{change}")
        assert run.returncode == 0, run.stdout[-4000:]
        assert extra.split("/")[0] in ssh(address, "ip -br addr show mgmt0").stdout
        status = json.loads(ssh(address, "python3 /usr/local/lib/kmetal/kmetal_network.py status").stdout)
        assert status["pending"] is False and status["rolled_back"] is None, status
        assert status["timer"] != "active", status
    finally:
        lab("hosts", "down", "--prefix", prefix)


def _heartbeat(k8s, names, stop):
    """What a kubelet does for its node: Ready in the status and a renewed lease, so the lab's node lifecycle
    controller keeps these kubelet-less Node objects Ready."""
    import datetime

    from kubernetes import client

    core, coord = client.CoreV1Api(k8s), client.CoordinationV1Api(k8s)
    while not stop.is_set():
        now = datetime.datetime.now(datetime.timezone.utc)
        for name in names:
            core.patch_node_status(name, {"status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "test heartbeat",
                 "lastHeartbeatTime": now.isoformat(), "lastTransitionTime": now.isoformat()}]}})
            coord.patch_namespaced_lease(name, "kube-node-lease", {"spec": {"renewTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}})
        stop.wait(5)


def test_reboots_go_one_host_at_a_time_with_a_drain(tmp_path, k8s, lab_api):
    """C3: the hosts that need a reboot go one at a time, each drained first when it is a node of the cluster behind
    kmetal_kubeconfig and uncordoned once back and Ready. The lab hosts are containers, which cannot reboot their
    kernel: the reboot itself is skipped with its reason, the order, drains and uncordons are real (lab API Nodes)."""
    import threading

    from kubernetes import client, watch

    prefix = "t-reboot"
    inv = hosts_up(prefix, 2)
    names = sorted(h for g in inv["all"]["children"]["kmetal_nodes"]["children"].values() for h in (g["hosts"] or {}))
    core, coord = client.CoreV1Api(k8s), client.CoordinationV1Api(k8s)
    stop, seen = threading.Event(), []
    try:
        for name in names:
            core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=name, labels={"kmetal.io/test": "true"})))
            coord.create_namespaced_lease("kube-node-lease", client.V1Lease(
                metadata=client.V1ObjectMeta(name=name), spec=client.V1LeaseSpec(holder_identity=name, lease_duration_seconds=40)))
        beat = threading.Thread(target=_heartbeat, args=(k8s, names, stop), daemon=True)
        beat.start()

        def observe():
            # Every change of a node's cordon, in the order the API server saw them.
            state = {name: False for name in names}
            for event in watch.Watch().stream(core.list_node, label_selector="kmetal.io/test=true", timeout_seconds=600):
                node = event["object"]
                cordoned = bool(node.spec.unschedulable)
                if state.get(node.metadata.name) != cordoned:
                    state[node.metadata.name] = cordoned
                    seen.append((node.metadata.name, cordoned, sorted(n for n, c in state.items() if c)))
                if stop.is_set():
                    return

        watcher = threading.Thread(target=observe, daemon=True)
        watcher.start()
        path = inventory(tmp_path, prefix, {"host_prep_kubeconfig": str(lab_api.kubeconfig)})
        play = tmp_path / "reboot.yml"
        play.write_text(yaml.safe_dump([{
            "name": "Reboot", "hosts": "kmetal_nodes", "gather_facts": False,
            "tasks": [
                {"name": "Facts the role reads", "ansible.builtin.setup": {"gather_subset": ["min", "virtual"]}},
                {"name": "Both hosts need a reboot", "ansible.builtin.set_fact": {"host_prep_reboot_pending": True}},
                {"name": "Reboot them", "ansible.builtin.include_role": {"name": "kmetal.platform.host_prep", "tasks_from": "reboot.yml"},
                 "run_once": True},
            ]}]))
        run = playbook(path, play)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        order = re.findall(r"TASK \[kmetal\.platform\.host_prep : Host prep \| "
                           r"(drain|reboot, and wait until it answers again,|wait for Ready again|uncordon) "
                           rf"({re.escape(prefix)}-\d+)\b", run.stdout)
        expected = []
        for name in names:
            expected += [("drain", name), ("reboot, and wait until it answers again,", name), ("wait for Ready again", name),
                         ("uncordon", name)]
        assert order == expected, run.stdout[-4000:]
        assert run.stdout.count("SKIPPED reboot of") == len(names)
        assert wait(lambda: len([s for s in seen if not s[1]]) >= len(names), 60), seen
        # Cordoned one at a time, in order, and every node schedulable again at the end.
        assert [(n, c) for n, c, _ in seen] == [(n, c) for n in names for c in (True, False)], seen
        assert all(len(cordoned) <= 1 for _, _, cordoned in seen), seen
        assert not any(core.read_node(n).spec.unschedulable for n in names)
    finally:
        stop.set()
        for name in names:
            for delete in (lambda: core.delete_node(name), lambda: coord.delete_namespaced_lease(name, "kube-node-lease")):
                try:
                    delete()
                except client.ApiException:
                    pass
        lab("hosts", "down", "--prefix", prefix)


def test_host_network_takes_mgmt0_over_from_ifupdown_and_a_rollback_gives_it_back(tmp_path):
    """C2: a fresh host's mgmt0 is ifupdown's (as Debian's installer leaves it). A change that cuts the host off
    rolls back to that: the stanza and networking.service come back and ifupdown brings mgmt0 up again. A good change
    retires the stanza (so the next boot does not configure mgmt0 twice), disables networking.service once only lo's
    stanza is left, and leaves systemd-networkd-wait-online disabled (enabling networkd enables it on Debian)."""
    prefix = "t-ifupdown"
    inv = hosts_up(prefix, 1)
    try:
        address = _addresses(inv)[0]
        fresh = ssh(address, "ifquery --list; systemctl is-enabled networking.service systemd-networkd.service; true").stdout.split()
        assert fresh == ["lo", "mgmt0", "enabled", "disabled"] or fresh == ["mgmt0", "enabled", "disabled"], fresh
        path = inventory(tmp_path, prefix, {"host_network_rollback_timeout": 10, "host_network_confirm_timeout": 5,
                                            "host_network_jumbo_check": False})
        play = tmp_path / "network.yml"
        play.write_text(yaml.safe_dump([{"name": "Network", "hosts": "kmetal_nodes", "gather_facts": False,
                                         "roles": ["kmetal.platform.host_network"]}]))
        cut = tmp_path / "cut.yml"
        cut.write_text(yaml.safe_dump({"host_network_profiles": [{"name": "mgmt0", "addresses": ["198.18.251.10/24"]}]}))
        bad = playbook(path, play, "-e", f"@{cut}")
        assert bad.returncode != 0
        assert "restored its previous configuration by itself" in " ".join(bad.stdout.split()), bad.stdout[-3000:]
        back = ssh(address, "ifquery --list; ifquery --state mgmt0; systemctl is-enabled networking.service; "
                            "grep -c '^#kmetal-retired#' /etc/network/interfaces.d/mgmt0; ip -4 -br addr show mgmt0; ip route")
        lines = back.stdout.splitlines()
        assert "mgmt0" in lines and "mgmt0=mgmt0" in lines and "enabled" in lines, back.stdout
        assert "0" in lines, f"the stanza is still retired after the rollback:\n{back.stdout}"
        assert address in back.stdout and "198.18.0.0/24 via" in back.stdout, back.stdout

        good = playbook(path, play)
        assert good.returncode == 0, good.stdout[-3000:]
        after = ssh(address, "ifquery --list; echo --; systemctl is-enabled networking.service systemd-networkd.service "
                             "systemd-networkd-wait-online.service; grep -v '^#' /etc/network/interfaces.d/mgmt0; "
                             "networkctl status mgmt0 | grep 'Network File'; true")
        listed, _, rest = after.stdout.partition("--\n")
        assert "mgmt0" not in listed.split(), after.stdout
        assert rest.split()[:3] == ["disabled", "enabled", "disabled"], after.stdout
        assert "iface" not in rest and "address" not in rest.split("Network File")[0], after.stdout
        assert "/etc/systemd/network/50-kmetal-mgmt0.network" in rest, after.stdout
        again = playbook(path, play)
        assert again.returncode == 0 and re.search(r"changed=0\s", again.stdout), again.stdout[-3000:]
    finally:
        lab("hosts", "down", "--prefix", prefix)


def test_host_prep_refreshes_an_empty_package_index_before_installing(tmp_path):
    """C4: the lab hosts ship with empty package lists, as Debian's cloud images do. A package that is not installed
    makes host_prep refresh the index first (here from a local repository, the host's only source); once every
    package is there, a run needs no reachable repository at all."""
    prefix = "t-apt"
    inv = hosts_up(prefix, 1)
    try:
        address = _addresses(inv)[0]
        repo = tmp_path / "repo"
        repo.mkdir()
        deb = next((Path.home() / ".cache" / "kmetal" / "debs").glob("busybox-static_*_amd64.deb"), None)
        if deb is None:
            proc = subprocess.run(["apt-get", "download", "busybox-static"], cwd=repo, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
        else:
            shutil.copy(deb, repo)
        for cmd, out in ((["dpkg-scanpackages", "."], "Packages"), (["apt-ftparchive", "release", "."], "Release")):
            (repo / out).write_text(subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=True).stdout)
        key = REPO / ".lab" / "ssh" / "id_ed25519"
        tar = subprocess.run(["tar", "-C", str(repo), "-c", "."], capture_output=True, check=True).stdout
        put = subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                              "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{address}",
                              "mkdir -p /srv/kmetal-test-repo && tar -C /srv/kmetal-test-repo -x"], input=tar, capture_output=True)
        assert put.returncode == 0, put.stderr
        setup = ssh(address, "mv /etc/apt/sources.list /etc/apt/sources.list.off && "
                             "echo 'deb [trusted=yes] file:/srv/kmetal-test-repo ./' > /etc/apt/sources.list.d/test.list && "
                             "ls /var/lib/apt/lists; dpkg -s busybox-static >/dev/null 2>&1 && echo installed; true")
        assert setup.stdout.split() == ["partial"], f"not a fresh host (package lists or busybox-static there):\n{setup.stdout}"
        # The test repository beside the lab mirror's (which has host_prep's own packages, not busybox-static).
        path = inventory(tmp_path, prefix, {"host_prep_extra_packages": ["busybox-static"], "host_prep_apt_exclusive": False})
        play = tmp_path / "prep.yml"
        play.write_text(yaml.safe_dump([{"name": "Prep", "hosts": "kmetal_nodes", "gather_facts": False,
                                         "roles": ["kmetal.platform.host_prep"]}]))
        run = playbook(path, play)
        assert run.returncode == 0, run.stdout[-3000:]
        assert ssh(address, "dpkg-query -W -f='${db:Status-Status}' busybox-static").stdout == "installed"
        # Every package there: no index refresh, so a host without any reachable repository runs clean.
        assert ssh(address, "rm /etc/apt/sources.list.d/test.list").returncode == 0
        again = playbook(path, play)
        assert again.returncode == 0 and re.search(r"changed=0\s", again.stdout), again.stdout[-3000:]
        assert re.search(r"refresh the package index from the mirror\] \**\nskipping", again.stdout), again.stdout[-3000:]
    finally:
        lab("hosts", "down", "--prefix", prefix)
