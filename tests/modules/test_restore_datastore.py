"""kmetal.platform.restore_datastore against the lab API: a tenant's dedicated etcd as the chart renders it (applied
for real: StatefulSet, backups volume, certificates, CronJob) and its DataStore as tenant_cluster makes it. Bad input
and a running control plane are refused with zero writes; --check plans the restore and writes nothing. The restore
itself (Jobs running etcdutl, the etcd back with the data) needs nodes: it runs once the platform runs on the lab's
under cluster."""

import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from kubernetes import client

from conftest import ANSIBLE_PLAYBOOK, REPO, module_events

sys.path.insert(0, str(REPO / "tests" / "platform"))
import kmetal_platform_helpers as charts  # noqa: E402

KAMAJI = ("kamaji.clastix.io", "v1alpha1")


def restore(module_identity, audit, check=False, **extra):
    """ansible-playbook kmetal.platform.restore_datastore with EXTRA as -e; returns (failed task's msg or None, the
    results by task name, the writes)."""
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "kmetal.platform.restore_datastore", "-e", json.dumps(dict(extra, kmetal_kubeconfig=str(module_identity[1])))]
    if check:
        cmd += ["--check", "--diff"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false")
    mark = audit.mark()
    proc = subprocess.run(cmd, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    doc = json.loads(proc.stdout)
    results = {t["task"]["name"]: t["hosts"]["localhost"] for p in doc["plays"] for t in p["tasks"] if "localhost" in t["hosts"]}
    failed = next((r["msg"] for r in results.values() if r.get("failed")), None)
    writes = [e for e in module_events(audit, mark, module_identity[0])
              if e["verb"] in ("create", "update", "patch", "delete") and "dryRun=All" not in e.get("requestURI", "")]
    return failed, results, writes


@pytest.fixture
def dedicated(k8s, lab_api, namespace, uniq):
    """The chart's dedicated etcd of a DataStore of the test's own, rendered into the test's namespace and applied, and
    the DataStore tenant_cluster would make for it."""
    charts.ensure_vendored()
    name = "ds-" + uniq
    values = charts.merge(charts.BASE, {"datastores": {"namespace": namespace, "dedicated": [
        {"name": name, "replicas": 3, "backup": {"enabled": True, "retention": 2}}]}})
    docs = [d for d in charts.documents(charts.template(values).stdout) if (d["metadata"].get("labels") or {}).get("kmetal.io/datastore") == name]
    applied = charts.kubectl(lab_api.kubeconfig, "apply", "--server-side", "--field-manager", "kmetal-test", "-f", "-",
                             stdin=yaml.safe_dump_all(docs), check=False)
    assert applied.returncode == 0, applied.stderr
    sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.kmetal.platform.plugins.module_utils import _datastore
    from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems

    store = _datastore.validate({"datastore": {"name": name, "replicas": 3, "namespace": namespace}}, namespace, Problems(name))
    custom = client.CustomObjectsApi(k8s)
    custom.create_cluster_custom_object(*KAMAJI, "datastores", store)
    yield name
    custom.delete_cluster_custom_object(*KAMAJI, "datastores", name)


def test_bad_input_is_refused_before_any_request(module_identity, audit, lab_api):
    for extra, words in [
        ({}, "kmetal_datastore_restore_name: give the DataStore to restore"),
        ({"kmetal_datastore_restore_name": "Tenant_A"}, "is not a DataStore name"),
        ({"kmetal_datastore_restore_name": "tenant-a"}, "confirm with -e kmetal_datastore_restore_confirm=tenant-a"),
        ({"kmetal_datastore_restore_name": "tenant-a", "kmetal_datastore_restore_confirm": "tenant-a",
          "kmetal_datastore_restore_snapshot": "tenant-b-20261203T060000Z.db"}, "kmetal_datastore_restore_snapshot: tenant-b-20261203T060000Z.db is not one of its snapshots"),
    ]:
        failed, results, writes = restore(module_identity, audit, **extra)
        assert failed and words in failed, (words, failed)
        assert writes == [] and len(results) == 1  # the input check is the first task: nothing was asked of the API


def test_a_missing_or_foreign_datastore_is_refused(module_identity, audit, lab_api, platform_datastore):
    failed, _results, writes = restore(module_identity, audit, kmetal_datastore_restore_name="nope", kmetal_datastore_restore_confirm="nope")
    assert "the DataStore nope does not exist" in failed and writes == []
    failed, _results, writes = restore(module_identity, audit, kmetal_datastore_restore_name="default", kmetal_datastore_restore_confirm="default")
    assert "the DataStore default was not created by kmetal.platform" in failed and writes == []


def test_check_mode_plans_the_restore_and_writes_nothing(module_identity, audit, dedicated, namespace):
    failed, results, writes = restore(module_identity, audit, check=True, kmetal_datastore_restore_name=dedicated,
                                      kmetal_datastore_restore_confirm=dedicated, kmetal_datastore_restore_namespace=namespace)
    assert failed is None and writes == []
    assert results["Restore | stop the etcd (StatefulSet to 0)"]["changed"] is True
    jobs = results["Restore | restore each member's data from the snapshot"]["results"]
    assert [j["member"] for j in jobs] == [0, 1, 2] and all(j["changed"] for j in jobs)
    job = jobs[1]["result"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["etcdutl", "snapshot", "restore"] and "--name=%s-etcd-1" % dedicated in container["command"]
    assert job["spec"]["template"]["spec"]["volumes"][2]["persistentVolumeClaim"]["claimName"] == "data-%s-etcd-1" % dedicated
    assert "would restore the DataStore %s (3 etcd members) from its newest snapshot" % dedicated in results["Restore | done"]["msg"]


def test_a_running_control_plane_on_the_datastore_is_refused(module_identity, audit, k8s, dedicated, namespace):
    custom = client.CustomObjectsApi(k8s)
    custom.create_namespaced_custom_object(*KAMAJI, namespace, "tenantcontrolplanes", {
        "apiVersion": "kamaji.clastix.io/v1alpha1", "kind": "TenantControlPlane", "metadata": {"name": "prod"},
        "spec": {"dataStore": dedicated, "controlPlane": {"deployment": {"replicas": 2}, "service": {"serviceType": "LoadBalancer"}},
                 "kubernetes": {"version": "v1.34.1", "kubelet": {"cgroupfs": "systemd"}}, "networkProfile": {}}})
    custom.patch_namespaced_custom_object_status(*KAMAJI, namespace, "tenantcontrolplanes", "prod", {
        "status": {"kubernetesResources": {"version": {"version": "v1.34.1", "status": "Ready"}}}})
    custom.patch_cluster_custom_object_status(*KAMAJI, "datastores", dedicated, {"status": {"usedBy": ["%s/prod" % namespace]}})
    args = dict(kmetal_datastore_restore_name=dedicated, kmetal_datastore_restore_confirm=dedicated, kmetal_datastore_restore_namespace=namespace)
    failed, _results, writes = restore(module_identity, audit, **args)
    assert "the tenant control planes prod use the DataStore %s and are running: put their clusters to sleep first" % dedicated in failed
    assert writes == []
    # asleep (replicas 0; the lab's Kamaji v1.0.0 CRD has no Sleeping status): the restore goes ahead (checked in check
    # mode here; the Jobs need nodes)
    custom.patch_namespaced_custom_object(*KAMAJI, namespace, "tenantcontrolplanes", "prod", {
        "spec": {"controlPlane": {"deployment": {"replicas": 0}}}})
    time.sleep(0.5)
    failed, _results, writes = restore(module_identity, audit, check=True, **args)
    assert failed is None and writes == []
