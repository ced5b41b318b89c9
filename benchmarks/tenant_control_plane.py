#!/usr/bin/env python3
"""Tenant control planes on the lab's under cluster, timed: what kMetal claims (a tenant API in about 20 s, a
blue/green version bump in about 16 s with no downtime, sleep and wake) measured through the collection's modules,
with the real Cluster API, Kamaji provider, Kamaji and MetalLB doing the work.

    make demo                                    # the lab: under cluster, platform, mirror (once)
    .venv/bin/python benchmarks/tenant_control_plane.py [--rounds 3] [--replicas 2] [--json rows.json]

Each round, in tenant `bench` (namespace tenant-bench, made once):
  create   ansible-playbook with kmetal.platform.tenant_cluster then kmetal.platform.tenant_kubeconfig: seconds from
           the playbook's start to the new tenant API answering GET /version through its MetalLB VIP (the
           kubeconfig module asks it); `ansible-playbook startup` is an empty playbook's time, for comparison.
  upgrade  a cluster at TENANT_KUBERNETES_PREVIOUS_VERSION, then tenant_cluster with TENANT_KUBERNETES_VERSION and
           wait: seconds until the API answers with the new version, while a prober asks GET /version every 0.2 s:
           the unavailability is the total time of failed probes, the longest outage their longest run. (Kamaji at
           the pinned version admits tenants up to v1.33.0, so the bump is v1.32 -> v1.33, not kMetal's v1.33 -> v1.34.)
  sleep    tenant_cluster sleep: true with wait: seconds until Kamaji reports Sleeping.
  wake     tenant_cluster sleep: false, then tenant_kubeconfig: seconds until the API answers again.
  delete   tenant_cluster state: absent with wait, both clusters.
Prints a table (median, min, max over the rounds) and the load average; asserts nothing.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client, KmetalError  # noqa: E402

PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
KUBECONFIG = REPO / ".lab" / "under-cluster.kubeconfig"
MANIFEST = REPO / ".lab" / "mirror" / "manifest.json"
PINS = dict(line.split("=", 1) for line in (REPO / "lab" / "versions.env").read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
NEW, OLD = PINS["TENANT_KUBERNETES_VERSION"], PINS["TENANT_KUBERNETES_PREVIOUS_VERSION"]
TENANT, NAMESPACE, SUBNET = "bench", "tenant-bench", "bench-net"
CLAIMS = {"create": "about 20 s", "upgrade": "about 16 s", "upgrade unavailable": "0 s", "sleep": "-", "wake": "-"}


def play(tasks, workdir, check=True):
    """Run TASKS on localhost against the under cluster; returns (seconds, results of each task)."""
    book = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": str(REPO / ".venv" / "bin" / "python")},
             "module_defaults": {"group/kmetal.platform.k8s": {"kubeconfig": str(KUBECONFIG)}}, "tasks": tasks}]
    path = Path(workdir) / "play.yml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCALHOST_WARNING="false")
    start = time.monotonic()
    proc = subprocess.run([str(PLAYBOOK), "-i", "localhost,", str(path)], capture_output=True, text=True, env=env, timeout=1800)
    seconds = time.monotonic() - start
    try:
        results = [t["hosts"]["localhost"] for p in json.loads(proc.stdout)["plays"] for t in p["tasks"]]
    except (ValueError, KeyError):
        results = []
    if check and proc.returncode != 0:
        failed = [r.get("msg") for r in results if r.get("failed")]
        raise SystemExit("benchmark: a playbook failed: %s\n%s" % (failed, proc.stderr[-2000:]))
    return seconds, results


def cluster_task(name, version, replicas, **extra):
    args = {"name": name, "tenant": TENANT, "version": version, "subnet": SUBNET, "bootstrap_server_address": "198.18.1.250",
            "control_plane": {"replicas": replicas, "service_type": "LoadBalancer"}, "workers": [{"name": "md-0", "replicas": 1}],
            "artifact_manifest": str(MANIFEST)}
    args.update(extra)
    return {"name": "cluster %s" % name, "kmetal.platform.tenant_cluster": args}


def kubeconfig_task(name, workdir):
    return {"name": "kubeconfig %s" % name, "kmetal.platform.tenant_kubeconfig": {
        "name": name, "tenant": TENANT, "dest": str(Path(workdir) / ("%s.kubeconfig" % name)), "wait_timeout": 900}}


class Prober(threading.Thread):
    """GET /version every INTERVAL seconds with the tenant's kubeconfig; records (time, version or None)."""

    def __init__(self, kubeconfig, interval=0.2):
        super().__init__(daemon=True)
        self.client = Client({"kubeconfig": str(kubeconfig), "request_timeout": 1.0}, max_attempts=1)
        self.interval, self.samples, self.stop = interval, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            at = time.monotonic()
            try:
                _status, body = self.client.request("GET", "/version")
                self.samples.append((at, body.get("gitVersion")))
            except KmetalError:
                self.samples.append((at, None))
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - at)))

    def outages(self):
        """(total seconds without an answer, longest outage), from consecutive failed probes."""
        total = longest = run = 0.0
        for (at, version), (nxt, _) in zip(self.samples, self.samples[1:]):
            if version is None:
                run += nxt - at
                total += nxt - at
                longest = max(longest, run)
            else:
                run = 0.0
        return total, longest

    def first(self, version, after):
        return next((at for at, v in self.samples if at >= after and v == version), None)


def setup(workdir):
    play([{"name": "tenant bench", "kmetal.platform.tenant_fleet": {"tenants": [
        {"name": TENANT, "subnets": [{"name": SUBNET, "cidr": ["10.230.0.0/24"]}]}]}}], workdir)


def one_round(r, replicas, workdir):
    row = {}
    name, old = "c%d" % r, "u%d" % r
    row["create"], results = play([cluster_task(name, NEW, replicas), kubeconfig_task(name, workdir)], workdir)
    print("  round %d: %s answered with %s after %.1f s" % (r, name, results[-1].get("version"), row["create"]), flush=True)

    play([cluster_task(old, OLD, replicas), kubeconfig_task(old, workdir)], workdir)
    prober = Prober(Path(workdir) / ("%s.kubeconfig" % old))
    prober.start()
    while sum(1 for _, v in prober.samples if v == OLD) < 5:  # a baseline of answers before the bump
        time.sleep(0.2)
    start = time.monotonic()
    play([cluster_task(old, NEW, replicas, wait=True, wait_timeout=900)], workdir)
    deadline = time.monotonic() + 120
    while prober.first(NEW, start) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    prober.stop.set()
    prober.join()
    answered = prober.first(NEW, start)
    row["upgrade"] = (answered - start) if answered else None
    row["upgrade unavailable"], row["upgrade longest outage"] = prober.outages()
    print("  round %d: %s %s -> %s in %s s, unavailable %.1f s" % (r, old, OLD, NEW, "%.1f" % row["upgrade"] if answered else "?",
                                                                  row["upgrade unavailable"]), flush=True)

    row["sleep"], _ = play([cluster_task(name, NEW, replicas, sleep=True, wait=True, wait_timeout=600)], workdir)
    row["wake"], results = play([cluster_task(name, NEW, replicas, sleep=False), kubeconfig_task(name, workdir)], workdir)
    row["delete"], _ = play([cluster_task(n, NEW, replicas, state="absent", wait=True, wait_timeout=600) for n in (name, old)], workdir)
    return row


def table(rows, overhead, replicas):
    keys = ["create", "upgrade", "upgrade unavailable", "upgrade longest outage", "sleep", "wake", "delete"]
    lines = ["| measure (s) | kMetal claims | median | min | max | rounds |", "|---|---|---|---|---|---|"]
    for key in keys:
        values = [row[key] for row in rows if row.get(key) is not None]
        if not values:
            continue
        lines.append("| %s | %s | %.1f | %.1f | %.1f | %d |" % (key, CLAIMS.get(key, "-"), statistics.median(values), min(values),
                                                               max(values), len(values)))
    lines.append("| ansible-playbook startup (an empty play) | - | %.1f | | | 1 |" % overhead)
    lines.append("")
    lines.append("control planes of %d replicas; tenant versions %s (upgrade from %s); load average %s" % (
        replicas, NEW, OLD, " ".join("%.1f" % x for x in os.getloadavg())))
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2, help="control-plane replicas of each tenant cluster")
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args(argv)
    if not KUBECONFIG.exists():
        raise SystemExit("benchmark: no under cluster (%s): run `make demo` first" % KUBECONFIG)
    with tempfile.TemporaryDirectory() as workdir:
        overhead, _ = play([], workdir)
        setup(workdir)
        rows = []
        for r in range(args.rounds):
            rows.append(one_round(r, args.replicas, workdir))
    print(table(rows, overhead, args.replicas))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
