"""kmetal.platform.fleet_report and its playbook against the lab API: every tenant, VPC, subnet CIDR, VLAN id and
cluster version is in the picture and the page; one LIST per kind; re-runs change nothing; --check writes nothing;
an empty fleet (a lab API of the test's own) says "no tenants"."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from xml.etree import ElementTree

import pytest
from kmetal_tasks import task
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "collections/ansible_collections/kmetal/platform/playbooks/fleet_report.yml"
LISTED = {"namespaces", "resourcequotas", "rolebindings", "clusters", "vpcs", "subnets", "vlans"}


def run_playbook(kubeconfig, out_dir, check=False, timeout=300):
    """ansible-playbook of the collection's fleet_report.yml; the fleet_report task's result."""
    cmd = [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", str(PLAYBOOK),
           "-e", "kmetal_kubeconfig=%s" % kubeconfig, "-e", "kmetal_fleet_report_dir=%s" % out_dir,
           "-e", "ansible_python_interpreter=%s" % (REPO / ".venv/bin/python")]
    if check:
        cmd.append("--check")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false")
    for key in [k for k in env if k.startswith("K8S_AUTH_") or k in ("HTTPS_PROXY", "https_proxy")]:
        del env[key]
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        pytest.fail("ansible-playbook printed no JSON (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for p in doc["plays"] for t in p["tasks"]}
    result = tasks["Fleet report | read the fleet and draw it"]
    assert proc.returncode == 0 and not result.get("failed"), result.get("msg") or proc.stdout[-3000:]
    return result


def wait_for_settled_fleet(k8s, timeout=300):
    """Earlier tests' tenants may still be going away (the namespace controller deletes in the background); the
    re-run below must see the same fleet as the first run, so start once no tenant namespace is terminating."""
    deadline = time.monotonic() + timeout
    while True:
        leaving = [ns.metadata.name for ns in client.CoreV1Api(k8s).list_namespace(label_selector="kmetal.io/tenant").items
                   if ns.metadata.deletion_timestamp]
        if not leaving:
            return
        assert time.monotonic() < deadline, "tenant namespaces still terminating after %ss: %s" % (timeout, leaving)
        time.sleep(1)


def test_fleet_report_draws_every_tenant_vpc_subnet_vlan_and_cluster(play, k8s, audit, module_identity, uniq, tmp_path):
    t1, t2 = "fr1-%s" % uniq, "fr2-%s" % uniq
    vlan_id = 100 + int(uniq, 16) % 3000
    setup = play([
        task("tenant", name=t1), task("tenant", name=t2),
        task("vpc", name=t1, tenant=t1), task("vpc", name=t2, tenant=t2),
        task("subnet", name=t1 + "-dev", vpc=t1, cidr=["10.61.0.0/24"]),
        task("subnet", name=t1 + "-prod", vpc=t1, cidr=["10.61.1.0/24"], mode="vlan", vlan={"id": vlan_id, "provider": "prov-" + uniq}),
        task("subnet", name=t2 + "-a", vpc=t2, cidr=["10.62.7.0/24"]),
        task("tenant_cluster", name="prod", tenant=t1, version="v1.34.1", subnet=t1 + "-prod", class_namespace="no-class-" + uniq,
             workers=[{"name": "md-0", "replicas": 1}]),
        task("tenant_cluster", name="edge", tenant=t2, version="v1.33.5", class_namespace="no-class-" + uniq,
             workers=[{"name": "md-0", "replicas": 1}]),
    ])
    try:
        assert all(r.get("changed") for r in setup.results), [r.get("msg") for r in setup.results]
        out = tmp_path / "report"
        user, kubeconfig = module_identity
        wait_for_settled_fleet(k8s)
        mark = audit.mark()
        first = run_playbook(kubeconfig, out)
        svg, page = (out / "fleet.svg").read_text(), (out / "fleet.html").read_text()
        drawn = " ".join(ElementTree.fromstring(svg.encode()).itertext())  # dot writes '-' as &#45;
        for text in (drawn, page):
            for word in (t1, t2, "tenant-" + t1, t1 + "-dev", t1 + "-prod", t2 + "-a", "10.61.0.0/24", "10.61.1.0/24", "10.62.7.0/24",
                         "VLAN %d" % vlan_id if text is drawn else "%d (%s)" % (vlan_id, "prov-%s-vlan%d" % (uniq, vlan_id)),
                         "v1.34.1", "v1.33.5", "prod", "edge"):
                assert word in text, "%s missing from the %s" % (word, "SVG" if text is drawn else "HTML page")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        assert page.count("<svg") == 1 and "<script" not in page and "http://" not in page.replace("http://www.w3.org", ""), "self-contained"
        assert first["changed"] and sorted(first["written"]) == sorted([str(out / "fleet.svg"), str(out / "fleet.html")])
        assert (out / "fleet.html").stat().st_mode & 0o777 == 0o644
        mine = [t for t in first["fleet"] if t["name"] in (t1, t2)]
        assert [t["name"] for t in mine] == [t1, t2]
        prod = mine[0]["vpcs"][0]["subnets"][1]
        assert prod["cidr"] == "10.61.1.0/24" and prod["vlan_id"] == vlan_id and [c["name"] for c in prod["clusters"]] == ["prod"]
        assert [c["name"] for c in mine[1]["clusters"]] == ["edge"], "a cluster with no subnet hangs off its tenant"
        lists = [e["objectRef"]["resource"] for e in audit.events(mark, user=user) if e["verb"] == "list"]
        assert sorted(lists) == sorted(LISTED), "one LIST per kind, whatever the fleet's size: %s" % lists
        assert not [e for e in audit.events(mark, user=user) if e["verb"] not in ("list", "get")], "read-only"

        again = run_playbook(kubeconfig, out)
        assert again["changed"] is False and again["written"] == []

        check_dir = tmp_path / "check"
        check_dir.mkdir()
        checked = run_playbook(kubeconfig, check_dir, check=True)
        assert checked["changed"] and sorted(checked["would_write"]) == sorted([str(check_dir / "fleet.svg"), str(check_dir / "fleet.html")])
        assert "would write" in checked["msg"] and list(check_dir.iterdir()) == [], "check mode writes nothing"
    finally:
        objects = client.CustomObjectsApi(k8s)
        for ns, name in (("tenant-" + t1, "prod"), ("tenant-" + t2, "edge")):
            _gone(objects.delete_namespaced_custom_object, "cluster.x-k8s.io", "v1beta2", ns, "clusters", name)
        for name in (t1 + "-dev", t1 + "-prod", t2 + "-a"):
            _gone(objects.delete_cluster_custom_object, "kubeovn.io", "v1", "subnets", name)
        _gone(objects.delete_cluster_custom_object, "kubeovn.io", "v1", "vlans", "prov-%s-vlan%d" % (uniq, vlan_id))
        for name in (t1, t2):
            _gone(objects.delete_cluster_custom_object, "kubeovn.io", "v1", "vpcs", name)
            _gone(client.CoreV1Api(k8s).delete_namespace, "tenant-" + name)


def _gone(delete, *args):
    try:
        delete(*args)
    except client.ApiException as err:
        if err.status != 404:
            raise


@pytest.fixture
def empty_lab(lab_api, tmp_path_factory):
    """A lab API of the test's own, with the upstream CRDs and no tenant: the shared lab always has some."""
    state = tmp_path_factory.mktemp("empty-lab-%s" % uuid.uuid4().hex[:4])
    env = dict(os.environ, KMETAL_LAB_DIR=str(state), KMETAL_BIN=str(REPO / ".lab" / "bin"))
    env.pop("KMETAL_LAB_API_PORT", None)
    env.pop("KMETAL_LAB_ETCD_PORT", None)
    up = subprocess.run([str(REPO / "bin/lab"), "up"], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600)
    try:
        assert up.returncode == 0, "the empty lab API did not start:\n%s\n%s" % (up.stdout[-2000:], up.stderr[-2000:])
        yield state / "kubeconfig"
    finally:
        subprocess.run([str(REPO / "bin/lab"), "down"], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)


def test_an_empty_fleet_renders_a_clear_no_tenants_page(empty_lab, tmp_path):
    out = tmp_path / "report"
    result = run_playbook(empty_lab, out)
    assert result["counts"] == {"tenants": 0, "vpcs": 0, "subnets": 0, "clusters": 0} and result["fleet"] == []
    page, svg = (out / "fleet.html").read_text(), (out / "fleet.svg").read_text()
    assert "No tenants: this fleet has no namespaces labelled kmetal.io/tenant yet" in page and "0 tenants." in page
    assert "No tenants in this fleet yet" in " ".join(ElementTree.fromstring(svg.encode()).itertext()) and "<table>" not in page
