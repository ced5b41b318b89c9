#!/usr/bin/env python3
"""Benchmark of the tenants role against the lab API: requests and seconds for N tenants, create then no-op.

    .venv/bin/python benchmarks/tenants.py [--tenants 10 100] [--clusters] [--bulk both|true|false]

Each tenant gets a namespace/quota/limits/admins, a VPC with platform drop routes and one subnet (and a cluster with
--clusters). Requests are counted from the lab API's audit log, under a client identity of the benchmark's own, so
other users of the shared lab do not blur the numbers; per-module counts come from each call's api_requests.
--bulk runs the role with tenants_bulk true (one kmetal.platform.tenant_fleet call), false (one module call per
object), or both (the default) on fleets of their own, for the same table. The delete phase is the per-item path in
both modes: it is measured once, on the per-item fleet; the bulk mode's fleet is removed with the role uncounted.
Prints tables; asserts nothing about time.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))

from kmetal_lab import api, pki  # noqa: E402
from kmetal_lab.audit import WRITE_VERBS, AuditLog  # noqa: E402

sys.path.insert(0, str(REPO / "collections"))
from ansible_collections.kmetal.platform.plugins.module_utils import _bulk, _cluster, _network, _tenant  # noqa: E402
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client  # noqa: E402


def identity(lab, workdir):
    user = "kmetal-bench-%s" % uuid.uuid4().hex[:6]
    ca = pki.CA(Path(lab.ca_cert).parent)
    ca.dir = workdir
    crt, key = ca.issue("bench", user, org="system:masters", client=True)
    path = workdir / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "lab", "cluster": {"server": lab.server, "certificate-authority": str(lab.ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "bench", "context": {"cluster": "lab", "user": user}}]}))
    path.chmod(0o600)
    return user, path


def tenants(count, tag, clusters):
    out = []
    for i in range(count):
        name = "b%s-%03d" % (tag, i)
        tenant = {"name": name, "admins": {"users": ["admin@%s.example" % name]}, "quota": {"cpu": "8", "memory": "32Gi", "tenant_control_planes": 2},
                  "subnets": [{"name": name + "-a", "cidr": ["10.200.0.0/24"]}]}
        if clusters:
            tenant["clusters"] = [{"name": "c1", "subnet": name + "-a", "bootstrap_server_address": "198.18.1.201", "workers": [{"name": "md-0", "replicas": 1}]}]
        out.append(tenant)
    return out


def run_role(kubeconfig, tenant_list, workdir, state=None, bulk=False):
    if state:
        tenant_list = [dict(t, state=state) for t in tenant_list]
    extra = workdir / "tenants.json"
    extra.write_text(json.dumps({"kmetal_tenants": tenant_list, "kmetal_kubeconfig": str(kubeconfig), "kmetal_platform_cidrs": ["198.18.1.0/24"],
                                 "tenants_bulk": bulk}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    start = time.monotonic()
    proc = subprocess.run([str(REPO / ".venv/bin/ansible-playbook"), "-i", str(REPO / "inventories/lab/hosts.yml"), "-e", "@%s" % extra,
                           str(REPO / "collections/ansible_collections/kmetal/platform/playbooks/tenants.yml")],
                          cwd=str(REPO), env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    doc = json.loads(proc.stdout)
    per_module = defaultdict(lambda: [0, 0, 0])  # calls, requests, changed
    failed = []
    for task in doc["plays"][0]["tasks"]:
        host = task["hosts"].get("localhost", {})
        if host.get("failed") and "results" not in host:
            failed.append(host.get("msg"))
        for item in host.get("results") or ([host] if "api_requests" in host else []):
            if item.get("skipped") or "api_requests" not in item:
                continue  # a skipped item, or a module that did not run (a when: that was false)
            module = host.get("action", task["task"]["name"]).split(".")[-1]
            per_module[module][0] += 1
            per_module[module][1] += item.get("api_requests", 0)
            per_module[module][2] += 1 if item.get("changed") else 0
            if item.get("failed"):
                failed.append(item.get("msg"))
    if failed or proc.returncode != 0:
        raise SystemExit("the tenants role failed: %s" % (failed[:3] or proc.stderr[-2000:]))
    return seconds, per_module


def bulk_items(fleet):
    """The fleet's desired objects, built by the modules' own builders, for the bulk path (_bulk.reconcile_many)."""
    items = []
    for t in fleet:
        _ns, objects = _tenant.desired_objects({"name": t["name"], "labels": {}, "quota": t["quota"], "limits": {}, "admins": dict({"groups": []}, **t["admins"]),
                                                "state": "present", "wait_timeout": 120})
        items += [(o, None) for o in objects]
        items.append((_network.vpc_desired({"name": t["name"], "tenant": t["name"], "namespaces": None, "state": "present", "static_routes": [],
                                            "policy_routes": [], "platform_cidrs": ["198.18.1.0/24"], "platform_drop_priority": 31000,
                                            "enable_external": False}), None))
        for s in t["subnets"]:
            subnet, _vlan, _nets = _network.subnet_desired(dict(s, vpc=t["name"], tenant=t["name"], state="present", mode="overlay",
                                                                namespaces=["tenant-" + t["name"]]))
            items.append((subnet, None))
        for c in t.get("clusters", []):
            items.append((_cluster.desired_cluster({"name": c["name"], "tenant": t["name"], "state": "present", "version": "v1.34.1",
                                                    "class_name": "kubevirt-kubeadm", "class_namespace": "kmetal-capi-providers",
                                                    "control_plane": {"data_store_name": "default"}, "machine_size": "small",
                                                    "bootstrap_server_address": c["bootstrap_server_address"], "subnet": c["subnet"],
                                                    "workers": [dict(w, **{"class": "default-worker"}) for w in c["workers"]],
                                                    "variables": {}, "labels": {}, "wait_timeout": 600}), None))
    return items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[10])
    parser.add_argument("--clusters", action="store_true", help="one tenant cluster per tenant as well")
    parser.add_argument("--bulk", choices=["both", "true", "false"], default="both", help="the role's tenants_bulk (both: one fleet each)")
    args = parser.parse_args()
    modes = {"both": [False, True], "true": [True], "false": [False]}[args.bulk]
    lab = api.ensure_up()
    audit = AuditLog(lab.audit_log)
    rows, module_rows = [], {}
    with tempfile.TemporaryDirectory(prefix="kmetal-bench-") as tmp:
        workdir = Path(tmp)
        user, kubeconfig = identity(lab, workdir)
        for count, bulk in [(c, b) for c in args.tenants for b in modes]:
            tag = uuid.uuid4().hex[:4]
            fleet = tenants(count, tag, args.clusters)
            mode = "bulk" if bulk else "per-item"
            for phase, state in (("create", None), ("no-op", None), ("delete", "absent")):
                mark = audit.mark()
                seconds, per_module = run_role(kubeconfig, fleet, workdir, state, bulk=bulk and state is None)
                if phase == "delete" and bulk and len(modes) > 1:
                    continue  # the same per-item path as the per-item mode's delete row
                events = audit.events(mark, user=user)
                writes = [e for e in events if e["verb"] in WRITE_VERBS and "dryRun=All" not in e.get("requestURI", "")]
                rows.append((count, mode, phase, len(events), len(writes), seconds, len(events) / count))
                if phase == "no-op" and not bulk:
                    # the same fleet through the bulk path, in process: one LIST per kind
                    mark = audit.mark()
                    start = time.monotonic()
                    selector = "kmetal.io/tenant in (%s)" % ",".join(t["name"] for t in fleet)
                    result = _bulk.reconcile_many(Client({"kubeconfig": str(kubeconfig)}), bulk_items(fleet), label_selector=selector)
                    events = audit.events(mark, user=user)
                    writes = [e for e in events if e["verb"] in WRITE_VERBS and "dryRun=All" not in e.get("requestURI", "")]
                    rows.append((count, "in-proc", "no-op", len(events), len(writes), time.monotonic() - start, len(events) / count))
                    if result["changed"]:
                        print("bulk path found changes: %s" % result["changed_objects"][:5])
                if count == args.tenants[0] and phase != "delete":
                    for module, (calls, requests, _changed) in per_module.items():
                        module_rows.setdefault(module, {})[phase] = requests / calls
    print("\n%8s  %-9s %-7s %9s %7s %9s %13s" % ("tenants", "mode", "run", "requests", "writes", "seconds", "requests/ten"))
    for count, mode, phase, requests, writes, seconds, per in rows:
        print("%8d  %-9s %-7s %9d %7d %9.1f %13.1f" % (count, mode, phase, requests, writes, seconds, per))
    print("\nrequests per module call (%d tenants)" % args.tenants[0])
    print("%-16s %8s %8s" % ("module", "create", "no-op"))
    for module, phases in module_rows.items():
        print("%-16s %8.1f %8.1f" % (module, phases.get("create", 0), phases.get("no-op", 0)))


if __name__ == "__main__":
    main()
