"""`lab hosts up/down`: idempotent up, isolated addresses, teardown of exactly what was made."""

import ipaddress
import json

from helpers import REPO, hosts_up, lab, links, netns, ssh

PREFIX = "t-lifecycle"


def test_up_is_idempotent_and_down_removes_exactly_what_it_made():
    links_before, netns_before = links(), netns()
    inv = hosts_up(PREFIX, 2)
    try:
        hosts = inv["all"]["children"]["kmetal_nodes"]["children"]
        addresses = [h["ansible_host"] for g in hosts.values() for h in (g["hosts"] or {}).values()]
        assert len(addresses) == 2
        assert all(ipaddress.ip_address(a) in ipaddress.ip_network("198.18.0.0/15") for a in addresses)
        state = json.loads(lab("hosts", "status", "--json").stdout)[PREFIX]
        pids = {name: h["pid"] for name, h in state["hosts"].items()}
        # A second `up` reuses the running hosts.
        hosts_up(PREFIX, 2)
        again = json.loads(lab("hosts", "status", "--json").stdout)[PREFIX]
        assert {name: h["pid"] for name, h in again["hosts"].items()} == pids
        # Each host: its own namespace, a management NIC and two data NICs at MTU 9216, reached over SSH.
        out = ssh(addresses[0], "ip -j link show")
        assert out.returncode == 0, out.stderr
        nics = {link["ifname"]: link["mtu"] for link in json.loads(out.stdout)}
        assert nics["data0"] == 9216 and nics["data1"] == 9216 and "mgmt0" in nics
        assert ssh(addresses[0], "systemctl is-system-running").stdout.strip() in ("running", "degraded")
        key = REPO / ".lab" / "ssh" / "id_ed25519"
        assert oct(key.stat().st_mode & 0o777) == "0o600"
    finally:
        down = lab("hosts", "down", "--prefix", PREFIX)
    assert down.returncode == 0, down.stderr
    assert links() == links_before
    assert netns() == netns_before
    assert PREFIX not in json.loads(lab("hosts", "status", "--json").stdout)


def test_bad_prefix_is_refused_clearly():
    proc = lab("hosts", "up", "1", "--prefix", "Bad Name")
    assert proc.returncode == 1
    assert "prefix 'Bad Name' is not a valid name" in proc.stderr
