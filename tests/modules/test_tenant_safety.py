"""The safety defects of issue 13, each against the lab API: namespaces are never adopted unasked, a tenant is never
left half-made, a failed fleet run reports what it wrote, and check mode predicts a whole play."""

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import yaml
from kmetal_tasks import bad_input, task
from kubernetes import client
from test_tenant_module import namespace_exists

REPO = Path(__file__).resolve().parents[2]


# -- 1. namespaces are never adopted unless asked, never a system one, and never deleted unless created here -----
def test_tenant_never_adopts_a_namespace_it_did_not_create(play, k8s, namespace, uniq):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="precious"), data={"a": "b"}))
    name = "adopt-%s" % uniq
    refused = play([task("tenant", name=name, namespace=namespace, ignore_errors=True),
                    task("tenant", name=name, namespace=namespace, state="absent", ignore_errors=True)])
    assert refused[0]["failed"] and "namespace: %s was not created by kmetal.platform" % namespace in refused[0]["msg"]
    assert "adopt_namespace: true" in refused[0]["msg"]
    assert refused[1]["failed"] and "refusing to delete" in refused[1]["msg"]
    assert refused.writes == []
    labels = core.read_namespace(namespace).metadata.labels or {}
    assert "kmetal.io/tenant" not in labels

    # asked explicitly: adopted; state absent then removes what the tenant added, never the namespace
    run = play([task("tenant", name=name, namespace=namespace, adopt_namespace=True),
                task("tenant", name=name, namespace=namespace, adopt_namespace=True),
                task("tenant", name=name, namespace=namespace, state="absent")])
    adopted, again, released = run.results
    assert adopted["changed"] is True and again["changed"] is False
    assert released["changed"] is True and released["namespace_deleted"] is False
    assert namespace_exists(k8s, namespace)
    assert core.read_namespaced_config_map("precious", namespace).data == {"a": "b"}
    assert core.list_namespaced_resource_quota(namespace).items == []
    assert "kmetal.io/tenant" not in (core.read_namespace(namespace).metadata.labels or {})
    assert not any(w["verb"] == "delete" and w["objectRef"]["resource"] == "namespaces" for w in run.writes)


def test_system_namespaces_are_never_adopted(play, uniq):
    cases = [({"name": "sys-" + uniq, "namespace": ns, "adopt_namespace": True}, "is a system namespace")
             for ns in ("kube-system", "kube-public", "default", "kmetal-flux", "kmetal-capi-providers")]
    results, run = bad_input(play, "tenant", cases)
    for (args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"] and "namespace:" in result["msg"], (args, result.get("msg"))
    assert run.requests == 0


def test_fleet_never_adopts_a_namespace_it_did_not_create(play, namespace, uniq):
    run = play([task("tenant_fleet", tenants=[{"name": "fa-" + uniq, "namespace": namespace}], ignore_errors=True)])
    assert run[0]["failed"] and "was not created by kmetal.platform" in run[0]["msg"]
    assert run.writes == []


# -- 2. contradicting limits are refused before any write; a server refusal names the option, leaves nothing ------
LIMITS_BAD = [
    ({"limits": {"default_cpu": "4", "max_cpu": "1"}}, "limits.default_cpu: 4 is more than limits.max_cpu 1"),
    ({"limits": {"default_memory": "2Gi", "max_memory": "1Gi"}}, "limits.default_memory: 2Gi is more than limits.max_memory 1Gi"),
    ({"limits": {"default_request_cpu": "2", "default_cpu": "1"}}, "limits.default_request_cpu: 2 is more than limits.default_cpu 1"),
    ({"limits": {"default_request_memory": "4Gi"}}, "limits.default_request_memory: 4Gi is more than limits.default_memory 1Gi"),
    ({"limits": {"default_request_cpu": "3", "default_cpu": "3", "max_cpu": "2"}}, "limits.default_request_cpu: 3 is more than limits.max_cpu 2"),
]


def test_contradicting_limits_are_refused_before_any_request(play, uniq):
    cases = [(dict(args, name="lim-" + uniq), words) for args, words in LIMITS_BAD]
    results, run = bad_input(play, "tenant", cases)
    for (args, words), result in zip(cases, results):
        assert result.get("failed") and words in result["msg"], (words, result.get("msg"))
    assert run.requests == 0
    fleet = play([task("tenant_fleet", tenants=[dict(args, name="lim%d-%s" % (i, uniq)) for i, (args, _w) in enumerate(LIMITS_BAD)],
                       ignore_errors=True)])
    assert all(words in fleet[0]["msg"] for _a, words in LIMITS_BAD) and fleet.requests == 0


def test_server_refusal_names_the_option_and_leaves_no_half_made_tenant(play, k8s, uniq):
    # pods must be a whole number: only the API server says so
    name = "half-%s" % uniq
    run = play([task("tenant", name=name, quota={"pods": "1500m"}, ignore_errors=True),
                task("tenant_fleet", tenants=[{"name": name + "f", "quota": {"pods": "1500m"}}], ignore_errors=True)])
    single, fleet = run.results
    assert single["failed"] and "quota.pods:" in single["msg"] and "spec.hard" not in single["msg"], single["msg"]
    assert fleet["failed"] and "quota.pods:" in fleet["msg"] and "spec.hard" not in fleet["msg"], fleet["msg"]
    # undone: the namespaces created by the run are deleted (gone once the namespace controller has emptied them)
    deadline = time.monotonic() + 120
    while (namespace_exists(k8s, "tenant-" + name) or namespace_exists(k8s, "tenant-%sf" % name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not namespace_exists(k8s, "tenant-" + name) and not namespace_exists(k8s, "tenant-%sf" % name)
    assert "Namespace tenant-%s" % name in single["undone"] and fleet["changed"] is False and single["changed"] is False


# -- 3. a fleet run that fails part-way reports exactly what it wrote -------------------------------------------
class CuttableProxy:
    """A TCP forwarder on 127.0.0.1 to the lab API that can be cut: every connection closed, new ones refused."""

    def __init__(self, target):
        self.target = target
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.conns = []
        self.cut_done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.cut_done.is_set():
            try:
                down, _ = self.server.accept()
            except OSError:
                return
            if self.cut_done.is_set():
                down.close()
                return
            up = socket.create_connection(self.target)
            self.conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.cut_done.set()
        self.server.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def test_failed_fleet_run_reports_exactly_what_it_wrote(play, k8s, lab_api, audit, module_identity, tmp_path, uniq):
    host, port = lab_api.server.rsplit("//", 1)[1].rsplit(":", 1)
    proxy = CuttableProxy((host, int(port)))
    config = yaml.safe_load(Path(module_identity[1]).read_text())
    config["clusters"][0]["cluster"]["server"] = "https://%s:%d" % (host, proxy.port)
    kubeconfig = tmp_path / "cuttable.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    kubeconfig.chmod(0o600)
    tenants = [{"name": "cut%02d-%s" % (i, uniq), "subnets": [{"name": "cut%02d-%s-a" % (i, uniq), "cidr": ["10.200.0.0/24"]}]} for i in range(30)]
    mark = audit.mark()

    def cutter():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if len(audit.writes(mark, user=module_identity[0])) >= 8:
                proxy.cut()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=cutter, daemon=True)
    watcher.start()
    run = play([task("tenant_fleet", tenants=tenants, request_timeout=3, ignore_errors=True)], kubeconfig=kubeconfig)
    watcher.join(5)
    result = run[0]
    # a connection cut mid-request: refused afterwards ("cannot reach") or cut inside TLS (_k8s names it a TLS failure)
    assert result["failed"] and ("cannot reach the Kubernetes API" in result["msg"] or "TLS failed" in result["msg"]), result.get("msg")
    assert result["changed"] is True
    written = set(result["written"])
    uncertain = set(result.get("uncertain", []))
    audited = {"%s %s" % (e["objectRef"]["resource"], e["objectRef"]["name"]) for e in audit.writes(mark, user=module_identity[0])
               if e["responseStatus"]["code"] < 300}
    plural = {"Namespace": "namespaces", "ResourceQuota": "resourcequotas", "LimitRange": "limitranges", "RoleBinding": "rolebindings",
              "Vpc": "vpcs", "Subnet": "subnets"}

    def as_audit(ident):
        kind, rest = ident.split(" ", 1)
        return "%s %s" % (plural[kind], rest.rsplit("/", 1)[-1])

    assert 0 < len(written) < 30 * 6
    assert {as_audit(i) for i in written} <= audited <= {as_audit(i) for i in written | uncertain}
    by_tenant = {t["name"]: t for t in result["tenant_results"]}
    assert any(t["status"] == "failed" for t in by_tenant.values())
    remove_tenants(k8s, [t["name"] for t in tenants])


def remove_tenants(k8s, names):
    core, custom = client.CoreV1Api(k8s), client.CustomObjectsApi(k8s)
    for name in names:
        for call in (lambda: custom.delete_cluster_custom_object("kubeovn.io", "v1", "subnets", name + "-a"),
                     lambda: custom.delete_cluster_custom_object("kubeovn.io", "v1", "vpcs", name),
                     lambda: core.delete_namespace("tenant-" + name)):
            try:
                call()
            except client.ApiException as err:
                if err.status != 404:
                    raise


# -- 4. check mode of the README's example playbook predicts the whole play -------------------------------------
def test_check_mode_of_the_tenant_example_predicts_the_whole_play(lab_api, audit, module_identity, tmp_path, uniq):
    text = (REPO / "playbooks" / "tenant_example.yml").read_text().replace("initech", "ix" + uniq)
    book = tmp_path / "tenant_example.yml"
    book.write_text(text)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1")
    for key in [k for k in env if k.startswith("K8S_AUTH_")]:
        del env[key]
    mark = audit.mark()
    proc = subprocess.run([str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-e", "kmetal_kubeconfig=%s" % module_identity[1],
                           "-e", "ansible_python_interpreter=%s" % (REPO / ".venv/bin/python"), "-c", "local", "--check", str(book)], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600, check=False)
    doc = json.loads(proc.stdout)
    results = [t["hosts"]["localhost"] for p in doc["plays"] for t in p["tasks"]]
    assert proc.returncode == 0, [r.get("msg") for r in results]
    assert len(results) == 4 and all(r.get("changed") for r in results), results
    subnets = results[2]["results"]
    assert all(r["changed"] and not r.get("failed") for r in subnets)
    assert any("depends on" in w for r in subnets for w in r.get("warnings", [])), subnets
    assert audit.writes(mark, user=module_identity[0]) == []
