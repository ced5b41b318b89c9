#!/usr/bin/env python3
"""Fleet benchmark against the lab API: N tenants (namespace, quota, limit range, role binding, VPC, subnet, cluster)
through five paths, for four runs: create, no-op, 1% of the tenants changed, prune 10%.

    .venv/bin/python benchmarks/fleet.py [--tenants 10 100 1000] [--loop-max 10] [--paths floor bulk ...] [--json rows.json]
                                         [--fresh-lab]
    .venv/bin/python benchmarks/fleet.py --merge a.json b.json      # one table and plot from earlier runs' rows

Paths: `bulk` (kmetal.platform.tenant_fleet through ansible-playbook, the tenant list in the playbook as inventory
variables would give it), `bulk-file` (the same with tenants_file: the list in a YAML file the module reads),
`kubectl` (kubectl apply --server-side of the same manifests in one call; the prune is one kubectl delete),
`k8s-loop` (kubernetes.core.k8s in a loop, one task item per object; only up to --loop-max tenants: extrapolate
larger fleets per object) and `floor` (a plain Python writer, 16 concurrent server-side applies straight at the API,
no reads). Wall time of each run, API requests from the lab API's audit log (each path under a client identity of its
own), peak RSS of the process tree (GNU time), each also as a ratio to the floor of the same N and run, measured in
the same invocation (the floor always runs). Prints a table, writes a PNG (time against N per path, needs
matplotlib: pip install .[bench]). Asserts nothing.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(REPO / "collections"))

from kmetal_lab import api, pki  # noqa: E402
from kmetal_lab.audit import AuditLog  # noqa: E402

PYTHON = REPO / ".venv" / "bin" / "python"
CLASS_NS = "kmetal-bench-class"


def identity(lab, workdir, tag, user=None):
    """A client identity of the path TAG (USER: the one it already has, its certificate kept) and its kubeconfig for LAB."""
    user = user or "kmetal-bench-%s-%s" % (tag, uuid.uuid4().hex[:4])
    ca = pki.CA(Path(lab.ca_cert).parent)
    ca.dir = workdir
    crt, key = ca.issue("bench-" + tag, user, org="system:masters", client=True)
    path = workdir / ("kubeconfig-" + tag)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bench",
        "clusters": [{"name": "lab", "cluster": {"server": lab.server, "certificate-authority": str(lab.ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "bench", "context": {"cluster": "lab", "user": user}}]}))
    path.chmod(0o600)
    return user, path


def tenants(count, tag, cpu="8"):
    return [{"name": "b%s-%04d" % (tag, i), "labels": {"kmetal.io/bench": tag}, "admins": {"users": ["admin@b%s-%04d.example" % (tag, i)]},
             "quota": {"cpu": cpu, "memory": "32Gi", "tenant_control_planes": 2},
             "subnets": [{"name": "b%s-%04d-a" % (tag, i), "cidr": ["10.200.0.0/24"]}],
             "clusters": [{"name": "c1", "subnet": "b%s-%04d-a" % (tag, i), "bootstrap_server_address": "198.18.1.201",
                           "workers": [{"name": "md-0", "replicas": 1}]}]} for i in range(count)]


def fleet_params(tenant_list):
    return {"tenants": tenant_list, "platform_cidrs": ["198.18.1.0/24"], "platform_drop_priority": 31000, "class_name": "kubevirt-kubeadm",
            "class_namespace": CLASS_NS, "cluster_version": "v1.34.1", "machine_size": "small", "wait": False, "wait_for": ["Available"],
            "wait_timeout": 900, "prune": False, "prune_max": 5, "fail_fast": False, "workers": 8}


def manifests(tenant_list):
    """The objects the collection builds for TENANT_LIST (its own builders), as applied by every path."""
    from ansible_collections.kmetal.platform.plugins.module_utils._fleet import Fleet
    from ansible_collections.kmetal.platform.plugins.module_utils._tenant import CREATED_BY, CREATED_BY_VALUE

    objects = [obj for obj, _check in Fleet(fleet_params(tenant_list)).items]
    for obj in objects:
        if obj["kind"] == "Namespace":
            obj["metadata"].setdefault("annotations", {})[CREATED_BY] = CREATED_BY_VALUE
    return objects


def timed(cmd, env=None, stdin=None):
    """Run CMD under GNU time: (seconds, peak RSS in MiB, completed process)."""
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS %M"] + [str(c) for c in cmd], cwd=str(REPO), env=env, input=stdin,
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    rss = [line for line in proc.stderr.splitlines() if line.startswith("MAXRSS ")]
    if proc.returncode != 0:
        raise SystemExit("%s failed (rc %d):\n%s\n%s" % (cmd[:3], proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    return seconds, int(rss[-1].split()[1]) / 1024 if rss else 0.0, proc


def ansible_env():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    for key in [k for k in env if k.startswith("K8S_AUTH_")]:
        del env[key]
    return env


def run_bulk(workdir, kubeconfig, tenant_list, tag, prune_max=None, from_file=False):
    """The fleet module through ansible-playbook: the tenant list in the playbook, as inventory variables would give
    it (ansible-core loads it and copies it to the task's worker), or FROM_FILE (tenants_file, read by the module)."""
    book = workdir / "bulk.yml"
    args = dict(fleet_params(tenant_list), kubeconfig=str(kubeconfig), prune=prune_max is not None, prune_max=prune_max or 5,
                prune_selector="kmetal.io/bench=" + tag)
    if from_file:
        data = workdir / "tenants.yml"
        data.write_text(yaml.dump(args.pop("tenants"), Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper)))
        args["tenants_file"] = str(data)
    task = {"kmetal.platform.tenant_fleet": args}
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "vars": {"ansible_python_interpreter": str(PYTHON)}, "tasks": [dict(task, name="fleet")]}]))
    return timed([REPO / ".venv/bin/ansible-playbook", "-i", "localhost,", book], env=ansible_env())


def run_loop(workdir, kubeconfig, objects, state="present"):
    book = workdir / "loop.yml"
    data = workdir / "loop-objects.json"
    data.write_text(json.dumps(objects))
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "vars": {"ansible_python_interpreter": str(PYTHON), "objs": "{{ lookup('file', '%s') | from_json }}" % data},
                                     "tasks": [{"name": "loop", "kubernetes.core.k8s": {"kubeconfig": str(kubeconfig), "state": state,
                                                                                        "apply": state == "present", "server_side_apply": {
                                                                                            "field_manager": "bench-loop", "force_conflicts": True}
                                                                                        if state == "present" else None,
                                                                                        "definition": "{{ item }}"},
                                                "loop": "{{ objs }}"}]}]))
    return timed([REPO / ".venv/bin/ansible-playbook", "-i", "localhost,", book], env=ansible_env())


def run_kubectl(workdir, kubeconfig, objects, delete=False):
    path = workdir / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    cmd = [REPO / ".lab/bin/kubectl", "--kubeconfig", kubeconfig]
    cmd += ["delete", "--wait=false", "-f", path] if delete else ["apply", "--server-side", "--force-conflicts", "--field-manager=bench-kubectl", "-f", path]
    return timed(cmd)


def run_floor(workdir, kubeconfig, objects, delete=False):
    path = workdir / "floor.json"
    path.write_text(json.dumps(objects))
    return timed([PYTHON, __file__, "--floor-worker", path, str(kubeconfig), "delete" if delete else "apply"])


def floor_worker(path, kubeconfig, action):
    """16 concurrent writers straight at the API: each object one server-side apply (or delete), no reads."""
    from concurrent.futures import ThreadPoolExecutor

    from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client

    objects = json.loads(Path(path).read_text())
    client = Client({"kubeconfig": kubeconfig, "request_timeout": 60})
    client.pool.connection_pool_kw["maxsize"] = 16
    order = ("Namespace", "ResourceQuota", "LimitRange", "RoleBinding", "Vpc", "Subnet", "Cluster")
    if action == "delete":
        objects = [o for o in objects if o["kind"] in ("Cluster", "Subnet", "Vpc", "Namespace")]
        order = ("Cluster", "Subnet", "Vpc", "Namespace")
    with ThreadPoolExecutor(max_workers=16) as pool:
        for kind in order:  # a namespace before what lives in it
            batch = [o for o in objects if o["kind"] == kind]
            if action == "delete":
                list(pool.map(lambda o: client.delete(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")), batch))
            else:
                list(pool.map(lambda o: client.apply(o), batch))


def cluster_class(kubeconfig):
    sys.path.insert(0, str(REPO / "tests" / "modules"))
    from test_tenant_cluster_module import cluster_class as make
    from test_tenant_cluster_module import default_datastore

    from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client

    client = Client({"kubeconfig": str(kubeconfig)})
    client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CLASS_NS}})
    klass = make("kubevirt-kubeadm")
    klass["metadata"]["namespace"] = CLASS_NS
    client.apply(klass)
    client.apply(default_datastore())  # the clusters' DataStore must exist (the chart's glue makes it on a platform)


PATHS = ("floor", "bulk", "bulk-file", "kubectl", "k8s-loop")


def measure(args, lab, audit, workdir):
    rows = []
    paths = ["floor"] + [p for p in PATHS if p in args.paths and p != "floor"]  # the floor always: the ratios need it
    batch = uuid.uuid4().hex[:8]
    ids = {p: identity(lab, workdir, p) for p in paths}
    cluster_class(ids["floor"][1])
    for count in args.tenants:
        for path in paths:
            if path == "k8s-loop" and count > args.loop_max:
                continue
            if args.fresh_lab:
                # a new, empty lab API for every path: no namespace controller still emptying the previous path's
                # namespaces (at N=1,000, minutes of work that slows whatever runs next)
                api.down(say=lambda *_: None)
                lab = api.up(say=lambda *_: None)
                ids = {p: identity(lab, workdir, p, ids[p][0]) for p in paths}  # the same users: their certificates stay
                cluster_class(ids["floor"][1])
                time.sleep(5)  # the CRD install's own requests settle before the clock starts
            user, kubeconfig = ids[path]
            tag = uuid.uuid4().hex[:4]
            fleet = tenants(count, tag)
            changed = [dict(t, quota=dict(t["quota"], cpu="16")) if i < max(1, count // 100) else t for i, t in enumerate(fleet)]
            kept = changed[:count - max(1, count // 10)]
            gone = changed[len(kept):]
            runs = [("create", fleet), ("no-op", fleet), ("1% changed", changed), ("prune 10%", kept)]
            for run, tenant_list in runs:
                mark = audit.mark()
                if path in ("bulk", "bulk-file"):
                    seconds, rss, _proc = run_bulk(workdir, kubeconfig, tenant_list, tag, prune_max=len(gone) if run == "prune 10%" else None,
                                                   from_file=path == "bulk-file")
                elif path == "kubectl":
                    objs = manifests(gone) if run == "prune 10%" else manifests(tenant_list)
                    seconds, rss, _proc = run_kubectl(workdir, kubeconfig, objs, delete=run == "prune 10%")
                elif path == "floor":
                    objs = manifests(gone) if run == "prune 10%" else manifests(tenant_list)
                    seconds, rss, _proc = run_floor(workdir, kubeconfig, objs, delete=run == "prune 10%")
                else:
                    objs = manifests(gone) if run == "prune 10%" else manifests(tenant_list)
                    objs = [o for o in objs if o["kind"] in ("Cluster", "Subnet", "Vpc", "Namespace")][::-1] if run == "prune 10%" else objs
                    seconds, rss, _proc = run_loop(workdir, kubeconfig, objs, state="absent" if run == "prune 10%" else "present")
                time.sleep(1)  # the audit log is written asynchronously
                events = audit.events(mark, user=user)
                objects = len(manifests(gone)) if run == "prune 10%" else 7 * count
                rows.append({"batch": batch, "tenants": count, "path": path, "run": run, "seconds": seconds, "requests": len(events),
                             "writes": len(audit.writes(mark, user=user)), "rss_mib": rss, "objects": objects})
                print("%6d %-9s %-11s %8.1f s %7d requests %6.0f MiB" % (count, path, run, seconds, len(events), rss), flush=True)
            if not args.fresh_lab:
                run_floor(workdir, ids["floor"][1], manifests(kept), delete=True)  # clean up what is left
    return rows


def report(rows, png):
    """The table and the plot. Each ratio is to the floor of the same invocation (batch); with rows merged from
    several invocations, a path measured in more than one keeps its last, and a floor is shown once per N and run."""
    floor = {(r.get("batch"), r["tenants"], r["run"]): r for r in rows if r["path"] == "floor"}
    last = {}
    for r in rows:
        last[(r["tenants"], r["path"], r["run"])] = r
    shown = sorted(last.values(), key=lambda r: (r["tenants"], PATHS.index(r["path"]), ("create", "no-op", "1% changed", "prune 10%").index(r["run"])))
    print("\n| tenants | path | run | seconds | ms/object | requests | peak MiB | time / floor | requests / floor | memory / floor |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in shown:
        f = floor.get((r.get("batch"), r["tenants"], r["run"]))
        ratio = (lambda a, b: "%.1f" % (a / b) if f and b else "-")
        print("| %d | %s | %s | %.1f | %.1f | %d | %.0f | %s | %s | %s |" % (
            r["tenants"], r["path"], r["run"], r["seconds"], 1000 * r["seconds"] / max(1, r["objects"]), r["requests"], r["rss_mib"],
            ratio(r["seconds"], f["seconds"] if f else 0), ratio(r["requests"], f["requests"] if f else 0), ratio(r["rss_mib"], f["rss_mib"] if f else 0)))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nno plot: matplotlib is not installed (pip install .[bench])")
        return
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
    for ax, run in zip(axes, ("create", "no-op", "1% changed", "prune 10%")):
        for path in PATHS:
            points = sorted((r["tenants"], r["seconds"]) for r in shown if r["path"] == path and r["run"] == run)
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=path)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(run)
        ax.set_xlabel("tenants (7 objects each)")
    axes[0].set_ylabel("seconds (wall)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print("\nplot: %s" % png)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--floor-worker":
        floor_worker(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--loop-max", type=int, default=10, help="largest fleet run through the kubernetes.core.k8s loop")
    parser.add_argument("--png", default=str(REPO / "benchmarks" / "fleet.png"))
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="the paths to run (the floor always runs)")
    parser.add_argument("--fresh-lab", action="store_true",
                        help="restart the lab API empty before every path (stops and wipes the running lab's data)")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="no run: print the table and draw the plot of rows written by --json")
    args = parser.parse_args()
    if args.merge:
        report([row for name in args.merge for row in json.loads(Path(name).read_text())], args.png)
        return
    lab = api.ensure_up()
    audit = AuditLog(lab.audit_log)
    with tempfile.TemporaryDirectory(prefix="kmetal-fleet-bench-") as tmp:
        rows = measure(args, lab, audit, Path(tmp))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    report(rows, args.png)


if __name__ == "__main__":
    main()
