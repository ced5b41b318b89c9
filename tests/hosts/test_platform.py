"""The platform for real on a lab under cluster (1 control plane + 1 worker, the lab mirror the only source): the
platform play's --check on a fresh cluster, its install in phases, then each component proven by what it does, a
second run and a --check that change nothing, the failures an operator meets (an image missing from the
mirror, a workload that does not become ready) reported with what they need to know, and a tenant cluster end to end
(its control plane made by the real Cluster API, Kamaji provider and Kamaji, its API answering behind a MetalLB VIP)."""

import json
import os
import re
import subprocess
import time
import uuid

import pytest
import yaml
from helpers import LAB_DIR, REPO, hosts_up, inventory, lab, playbook, recap, ssh, wait

PREFIX = os.environ.get("KMETAL_PLATFORM_TEST_PREFIX", "pf")
PLAYS = REPO / "collections/ansible_collections/kmetal/platform/playbooks"
KUBECTL = LAB_DIR / "bin" / "kubectl"
NAMESPACE = "kmetal-flux"
LAB_COMPONENTS = yaml.safe_load((REPO / "inventories/lab/group_vars/all/platform.yml").read_text())["kmetal_platform_components"]
# Flux reconciles the release from the chart the role pushes to the lab registry, over TLS verified with the lab's CA.
FLUX = {"kind": "OCIRepository", "url": "oci://198.18.0.1:5000/kmetal/charts/kmetal", "ca_bundle": "{{ kmetal_mirror_ca_pem }}",
        "publish": True, "interval": "10m", "timeout": "15m"}
PROBE_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"  # in the mirror; busybox sh and nc inside
PINS = dict(line.split("=", 1) for line in (REPO / "lab" / "versions.env").read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
TENANT_VERSION = PINS["TENANT_KUBERNETES_VERSION"]
# A tenant on its own DataStore: the platform runs its etcd and the backup CronJob (datastores.dedicated, from the
# inventory's tenants), the tenants role makes its DataStore and cluster.
VAULT_DATASTORE = {"replicas": 1, "storage": "1Gi", "backup": {"enabled": True, "retention": 2, "target": "pvc", "pvc": {"size": "1Gi"}}}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    was_running = lab("mirror", "status").returncode == 0
    up = lab("mirror", "up")
    assert up.returncode == 0, up.stderr
    tmp = tmp_path_factory.mktemp("platform")
    try:
        hosts = hosts_up(PREFIX, 2)
        subnet = hosts["all"]["vars"]["kmetal_lab_management_subnet"]
        base = ".".join(subnet.split(".")[:3])
        kubeconfig = tmp / "admin.conf"
        inv = inventory(tmp, PREFIX)
        (inv / "group_vars" / "all" / "zz-test.yml").write_text(yaml.safe_dump({
            "kmetal_control_plane_endpoint": {"address": base + ".10", "port": 6443, "interface": "mgmt0"},
            "under_cluster_kubeconfig": str(kubeconfig),
            "kmetal_kubeconfig": str(kubeconfig),
            "kmetal_chart": {"source": "path", "path": str(REPO / "charts/kmetal")},
            "kmetal_platform_crd_files": [str(LAB_DIR / "crds/no-chart.yaml")],
            "kmetal_metallb_pools": [{"name": "tenant-cp-pool", "addresses": ["%s.200-%s.220" % (base, base)]}],
            # the platform only, with the vault tenant's etcd (the lab's tenants have VIPs in the demo's pool)
            "kmetal_tenants": [{"name": "vault", "datastore": VAULT_DATASTORE}],
            "under_cluster_helm_binary": str(LAB_DIR / "bin/helm"),
            "platform_helm_binary": str(LAB_DIR / "bin/helm"),
            "platform_kubectl_binary": str(KUBECTL),
            "under_cluster_flannel_chart": str(REPO / "charts/kmetal/charts/flannel"),
            # Flux on: the role bootstraps, pushes the chart to the lab registry and hands the release over
            "kmetal_platform_components": {**LAB_COMPONENTS, "flux": True},
            "kmetal_flux": FLUX,
        }))
        hosts_file = inv / "hosts.yml"
        doc = yaml.safe_load(hosts_file.read_text())
        doc["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                           "ansible_python_interpreter": str(REPO / ".venv/bin/python")}
        hosts_file.write_text(yaml.safe_dump(doc))
        for play in ("hosts.yml", "under_cluster.yml"):
            proc = playbook(inv, PLAYS / play, timeout=1800)
            assert proc.returncode == 0, "%s failed:\n%s" % (play, proc.stdout[-6000:])
        check = playbook(inv, PLAYS / "platform.yml", "--check", "--diff", timeout=900)
        start = time.monotonic()
        first = playbook(inv, PLAYS / "platform.yml", timeout=2400)
        seconds = time.monotonic() - start
        revisions = {"first": helm_revisions(kubeconfig)}
        second = playbook(inv, PLAYS / "platform.yml", timeout=1200)
        revisions["second"] = helm_revisions(kubeconfig)
        # --check alone: under --diff the manifest diff (helm template against the release) also reports charts
        # that render differently outside the cluster, which is shown, not a change
        recheck = playbook(inv, PLAYS / "platform.yml", "--check", timeout=900)
        yield {"inventory": inv, "kubeconfig": kubeconfig, "base": base, "check": check, "first": first, "second": second,
               "recheck": recheck, "seconds": seconds, "revisions": revisions,
               "addresses": [h["ansible_host"] for g in doc["all"]["children"]["kmetal_nodes"]["children"].values()
                             for h in (g.get("hosts") or {}).values()]}
    finally:
        lab("hosts", "down", "--prefix", PREFIX)
        if not was_running:
            lab("mirror", "down")


def helm_revisions(kubeconfig):
    """The release's history, oldest first (revision, status, chart, description)."""
    proc = subprocess.run([str(LAB_DIR / "bin" / "helm"), "history", "kmetal", "--namespace", NAMESPACE, "--kubeconfig", str(kubeconfig),
                           "--max", "100", "-o", "json"], capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout) if proc.returncode == 0 else []


def kubectl(platform, *args, check=True, stdin=None):
    proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(platform["kubeconfig"]), *args], capture_output=True, text=True,
                          timeout=180, input=stdin)
    assert not check or proc.returncode == 0, proc.stderr
    return proc


def apply(platform, *docs):
    return kubectl(platform, "apply", "-f", "-", stdin="\n---\n".join(yaml.safe_dump(d) for d in docs))


def test_check_mode_on_a_fresh_cluster_predicts_the_install(platform):
    check = platform["check"]
    assert check.returncode == 0, check.stdout[-6000:]
    assert "would change" in " ".join(check.stdout.split())
    assert "kind: ClusterClass" in check.stdout  # --diff shows the release's manifest
    assert "ignoring" not in check.stdout.lower()  # nothing is predicted by ignoring an error


def test_the_install_succeeds_phase_by_phase_and_every_pod_is_ready(platform):
    first = platform["first"]
    assert first.returncode == 0, first.stdout[-12000:]
    print("platform install: %.0f s" % platform["seconds"])
    for phase in ("foundation", "operators", "glue", "classes"):
        assert "phase %s" % phase in first.stdout
    pods = json.loads(kubectl(platform, "get", "pods", "-A", "-o", "json").stdout)["items"]
    not_ready = [p["metadata"]["namespace"] + "/" + p["metadata"]["name"] for p in pods
                 if p["status"].get("phase") != "Succeeded"
                 and not all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]
    assert not not_ready, not_ready
    names = " ".join(p["metadata"]["name"] for p in pods)
    for expected in ("cert-manager", "cainjector", "webhook", "metallb-controller", "metallb-speaker", "kamaji", "kmetal-etcd-0",
                     "local-path-provisioner", "cluster-api-operator", "capi-controller-manager", "capi-kubeadm-bootstrap",
                     "capk-controller-manager", "capi-kamaji-controller-manager"):
        assert expected in names, "no pod named like %s: %s" % (expected, names)


def test_what_cannot_run_here_is_named_with_the_reason(platform):
    out = " ".join(platform["first"].stdout.split())
    for piece, why in (("kube_ovn", "openvswitch"), ("kubevirt", "/dev/kvm"), ("cdi", "KubeVirt VMs"), ("multus", "refuses")):
        assert re.search(r"%s: not deployed on this site \([^)]*%s" % (piece, re.escape(why)), out), piece
    for crd in ("vpcs.kubeovn.io", "kubevirts.kubevirt.io", "cdis.cdi.kubevirt.io", "network-attachment-definitions.k8s.cni.cncf.io"):
        kubectl(platform, "get", "crd", crd)
    assert not kubectl(platform, "get", "kubevirt", "-A", "-o", "name").stdout.strip()  # checked, not deployed


def test_a_second_run_and_a_check_change_nothing(platform):
    for run in ("second", "recheck"):
        proc = platform[run]
        assert proc.returncode == 0, proc.stdout[-6000:]
        counts = recap(proc.stdout)
        assert counts["localhost"]["changed"] == 0, proc.stdout[-6000:]
        assert ": unchanged" in " ".join(proc.stdout.split())


def test_cert_manager_issues_a_certificate_from_the_cluster_issuer(platform):
    name = "proof-" + uuid.uuid4().hex[:6]
    apply(platform, {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": "default"},
                     "spec": {"secretName": name, "dnsNames": ["proof.kmetal.test"],
                              "issuerRef": {"name": "kmetal-selfsigned", "kind": "ClusterIssuer"}}})
    kubectl(platform, "wait", "--for=condition=Ready", "certificate/" + name, "-n", "default", "--timeout=120s")
    secret = json.loads(kubectl(platform, "get", "secret", name, "-n", "default", "-o", "json").stdout)
    assert {"tls.crt", "tls.key"} <= set(secret["data"])


def test_metallb_gives_a_load_balancer_an_ip_that_answers_from_a_lab_host(platform):
    name = "proof-" + uuid.uuid4().hex[:6]
    labels = {"app": name}
    apply(platform,
          {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
           "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [
               {"name": "echo", "image": PROBE_IMAGE, "command": ["sh", "-c", "while true; do echo kmetal-lb | nc -l -p 8080; done"],
                "ports": [{"containerPort": 8080}]}]}}}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
           "spec": {"type": "LoadBalancer", "selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    kubectl(platform, "rollout", "status", "deployment/" + name, "-n", "default", "--timeout=180s")
    def lb_ip():
        return json.loads(kubectl(platform, "get", "svc", name, "-n", "default", "-o", "json").stdout)["status"] \
            .get("loadBalancer", {}).get("ingress", [{}])[0].get("ip")
    assert wait(lb_ip, timeout=120), "no LoadBalancer IP"
    ip = lb_ip()
    low, high = 200, 220
    assert ip.startswith(platform["base"] + ".") and low <= int(ip.rsplit(".", 1)[1]) <= high, ip
    probe = "python3 -c \"import socket; s=socket.create_connection(('%s', 80), 5); print(s.recv(64).decode())\"" % ip
    answered = wait(lambda: "kmetal-lb" in ssh(platform["addresses"][0], probe).stdout, timeout=60)
    assert answered


def test_local_path_binds_a_volume_claim(platform):
    name = "proof-" + uuid.uuid4().hex[:6]
    apply(platform,
          {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}}},
          {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"restartPolicy": "Never", "containers": [{"name": "w", "image": PROBE_IMAGE, "command": ["sh", "-c", "echo ok > /data/f"],
                                                                "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": name}}]}})
    kubectl(platform, "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/" + name, "-n", "default", "--timeout=180s")
    kubectl(platform, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/" + name, "-n", "default", "--timeout=180s")


def test_kamaji_runs_with_its_default_datastore_on_an_etcd_with_authentication(platform):
    store = json.loads(kubectl(platform, "get", "datastore", "default", "-o", "json").stdout)
    assert store["spec"]["endpoints"] == ["kmetal-etcd-0.kmetal-etcd.%s.svc.cluster.local:2379" % NAMESPACE]
    kubectl(platform, "wait", "--for=condition=Complete", "job/kmetal-etcd-auth", "-n", NAMESPACE, "--timeout=60s")
    # Authentication is on: a certificate whose name is no etcd user (the members' own) is refused.
    status = kubectl(platform, "exec", "-n", NAMESPACE, "kmetal-etcd-0", "--", "sh", "-c",
                     "etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/tls.crt "
                     "--key /etc/etcd/pki/tls.key auth status", check=False)
    assert status.returncode != 0 and "user name not found" in status.stdout + status.stderr, status
    kubectl(platform, "wait", "--for=condition=Available", "deployment/kmetal-kamaji", "-n", NAMESPACE, "--timeout=60s")


def test_cluster_api_providers_are_installed_from_the_mirror(platform):
    ns = "kmetal-capi-providers"
    for kind in ("coreprovider", "bootstrapprovider", "infrastructureprovider", "controlplaneprovider"):
        objs = json.loads(kubectl(platform, "get", kind, "-n", ns, "-o", "json").stdout)["items"]
        assert objs, kind
        for obj in objs:
            ready = {c["type"]: c["status"] for c in obj["status"].get("conditions", [])}
            assert ready.get("Ready") == "True", (kind, obj["status"])
            assert "github.com" not in json.dumps(obj["spec"].get("fetchConfig") or {}), obj["spec"]
    for crd in ("clusters.cluster.x-k8s.io", "clusterclasses.cluster.x-k8s.io", "kamajicontrolplanes.controlplane.cluster.x-k8s.io",
                "kubevirtmachinetemplates.infrastructure.cluster.x-k8s.io"):
        kubectl(platform, "get", "crd", crd)
    kubectl(platform, "get", "clusterclass", "kubevirt-kubeadm", "-n", ns)


def test_workloads_ready_names_an_image_the_mirror_lacks_and_reports_a_workload_that_never_becomes_ready(platform):
    name = "proof-" + uuid.uuid4().hex[:6]
    missing = "registry.k8s.io/kmetal/not-in-the-mirror:v0.0.1"
    deployments = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name + "-img", "namespace": "default"},
         "spec": {"selector": {"matchLabels": {"app": name + "-img"}}, "template": {"metadata": {"labels": {"app": name + "-img"}},
                  "spec": {"containers": [{"name": "c", "image": missing}]}}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name + "-crash", "namespace": "default"},
         "spec": {"selector": {"matchLabels": {"app": name + "-crash"}}, "template": {"metadata": {"labels": {"app": name + "-crash"}},
                  "spec": {"containers": [{"name": "c", "image": PROBE_IMAGE, "command": ["sh", "-c", "echo cannot reach the datastore; exit 3"]}]}}}},
    ]
    apply(platform, *deployments)
    play = platform["inventory"].parent / "wait.yml"
    for dep, args in ((deployments[0], {"pull_failure_grace": 5, "timeout": 300}), (deployments[1], {"timeout": 40})):
        play.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [{"kmetal.platform.workloads_ready": {
            "kubeconfig": str(platform["kubeconfig"]), "namespace": "default", "manifest": yaml.safe_dump(dep), **args}}]}]))
        start = time.monotonic()
        proc = playbook(platform["inventory"], play, timeout=600)
        took = time.monotonic() - start
        assert proc.returncode != 0, proc.stdout[-3000:]
        out = " ".join(proc.stdout.split())
        if dep is deployments[0]:
            assert missing in out and "registry mirror" in out, proc.stdout[-3000:]
            assert took < 200, "a missing image should stop the wait well before its timeout (%.0f s)" % took
        else:
            assert "timed out after 40s" in out and ("CrashLoopBackOff" in out or "Error" in out), proc.stdout[-3000:]
            assert "cannot reach the datastore" in out, proc.stdout[-3000:]  # the log tail


def test_a_tenant_cluster_end_to_end_answers_behind_a_metallb_vip(platform):
    """The tenants role makes the Cluster (kmetal.platform.tenant_fleet); the real Cluster API topology controller and
    the Kamaji provider make the KamajiControlPlane; Kamaji makes the TenantControlPlane, whose kube-apiserver pods run
    on the under cluster behind a MetalLB VIP; the role fetches the kubeconfig (0600) and kubectl version answers.
    The workers are KubeVirt VMs, which cannot start here: their MachineDeployment stays pending and the run says so."""
    ns, vip = "tenant-e2e", platform["base"] + ".205"
    kubeconfigs = platform["inventory"].parent / "tenant-kubeconfigs"
    extra = platform["inventory"].parent / "tenants-e2e.yml"
    extra.write_text(yaml.safe_dump({
        "kmetal_tenant_kubeconfig_dir": str(kubeconfigs),
        "tenants_artifact_manifest": str(LAB_DIR / "mirror" / "manifest.json"),
        "kmetal_tenants": [{
            "name": "e2e", "subnets": [{"name": "e2e-net", "cidr": ["10.210.0.0/24"]}],
            "clusters": [{"name": "web", "subnet": "e2e-net", "version": TENANT_VERSION, "bootstrap_server_address": vip,
                          "control_plane": {"replicas": 1, "service_address": vip, "service_type": "LoadBalancer"},
                          "workers": [{"name": "md-0", "replicas": 1}]}]}]}))
    start = time.monotonic()
    first = playbook(platform["inventory"], PLAYS / "tenants.yml", "-e", "@%s" % extra, timeout=1200)
    seconds = time.monotonic() - start
    assert first.returncode == 0, first.stdout[-8000:]
    print("tenant e2e/web: from the tenants play to its API answering: %.0f s" % seconds)

    cluster = json.loads(kubectl(platform, "get", "cluster", "web", "-n", ns, "-o", "json").stdout)
    ref = cluster["spec"]["controlPlaneRef"]
    assert ref["kind"] == "KamajiControlPlane", ref  # made by the topology controller from the ClusterClass
    kcp = json.loads(kubectl(platform, "get", "kamajicontrolplane", ref["name"], "-n", ns, "-o", "json").stdout)
    assert kcp["status"].get("ready") and kcp["status"].get("initialized"), kcp["status"]
    tcp = json.loads(kubectl(platform, "get", "tenantcontrolplane", ref["name"], "-n", ns, "-o", "json").stdout)
    assert tcp["status"]["kubernetesResources"]["version"]["status"] == "Ready", tcp["status"]
    service = json.loads(kubectl(platform, "get", "svc", ref["name"], "-n", ns, "-o", "json").stdout)
    assert service["spec"]["type"] == "LoadBalancer" and service["status"]["loadBalancer"]["ingress"][0]["ip"] == vip, service

    def control_plane_pods():
        return json.loads(kubectl(platform, "get", "pods", "-n", ns, "-l", "kamaji.clastix.io/name=" + ref["name"], "-o", "json").stdout)["items"]

    # Kamaji adds the konnectivity server to a running control plane by a rolling update, which may still be going on
    # when the API first answers: wait for the roll to settle (every pod's containers ready, none terminating).
    def settled():
        current = control_plane_pods()
        return current and all(not p["metadata"].get("deletionTimestamp") and p["status"].get("containerStatuses")
                               and all(c["ready"] for c in p["status"]["containerStatuses"]) for p in current)

    assert wait(settled, timeout=300, step=2), [p["status"] for p in control_plane_pods()]
    pods = control_plane_pods()
    assert {c["name"] for c in pods[0]["spec"]["containers"]} >= {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

    path = kubeconfigs / "e2e-web.kubeconfig"
    assert path.stat().st_mode & 0o777 == 0o600
    assert "e2e/web answers at https://%s:6443: %s" % (vip, TENANT_VERSION) in " ".join(first.stdout.split())
    version = subprocess.run([str(KUBECTL), "--kubeconfig", str(path), "version", "-o", "json"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"] == TENANT_VERSION

    out = " ".join(first.stdout.split())
    assert "The workers of e2e/web are KubeVirt VMs, and KubeVirt is not deployed on this site" in out
    md = json.loads(kubectl(platform, "get", "machinedeployment", "-n", ns, "-l", "cluster.x-k8s.io/cluster-name=web", "-o", "json").stdout)["items"]
    assert md and not md[0]["status"].get("readyReplicas"), md

    again = playbook(platform["inventory"], PLAYS / "tenants.yml", "-e", "@%s" % extra, timeout=900)
    assert again.returncode == 0 and recap(again.stdout)["localhost"]["changed"] == 0, again.stdout[-6000:]


def module_play(platform, name, tasks):
    """Run the collection's module TASKS (each registering `r<i>`) against the under cluster; returns (process, the
    registered results)."""
    out = platform["inventory"].parent / ("%s.json" % name)
    registered = [dict(t, register="r%d" % i) for i, t in enumerate(tasks)]
    save = {"ansible.builtin.copy": {"content": "{{ [%s] | to_json }}" % ", ".join("r%d" % i for i in range(len(tasks))),
                                     "dest": str(out), "mode": "0600"}}
    book = platform["inventory"].parent / ("%s.yml" % name)
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                     "module_defaults": {"group/kmetal.platform.k8s": {"kubeconfig": str(platform["kubeconfig"])}},
                                     "tasks": registered + [save]}]))
    proc = playbook(platform["inventory"], book, timeout=1500)
    return proc, (json.loads(out.read_text()) if proc.returncode == 0 else None)


def tenant_cluster(name, version, vip, **extra):
    return {"kmetal.platform.tenant_cluster": dict({
        "name": name, "tenant": "e2e", "version": version, "subnet": "e2e-net", "bootstrap_server_address": vip,
        "control_plane": {"replicas": 1, "service_address": vip, "service_type": "LoadBalancer"},
        "workers": [{"name": "md-0", "replicas": 0}],
        "artifact_manifest": str(REPO / ".lab" / "mirror" / "manifest.json")}, **extra)}


def test_sleep_and_wake_through_the_real_kamaji(platform):
    """Issue 11 on the real controllers: sleep puts the control plane to 0 replicas and Kamaji reports Sleeping; wake
    brings back the count the cluster had, and its API answers again."""
    vip, ns = platform["base"] + ".205", "tenant-e2e"
    kubeconfig = str(platform["inventory"].parent / "tenant-kubeconfigs" / "e2e-web.kubeconfig")
    proc, (slept,) = module_play(platform, "sleep", [tenant_cluster("web", TENANT_VERSION, vip, sleep=True, wait=True, wait_timeout=600,
                                                                    workers=[{"name": "md-0", "replicas": 1}])])
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert slept["changed"] and slept["control_plane"]["status"] == "Sleeping", slept.get("control_plane")
    assert slept["summary"]["sleeping"] and slept["summary"]["wake_replicas"] == 1, slept["summary"]
    name = slept["control_plane"]["name"]
    assert wait(lambda: not json.loads(kubectl(platform, "get", "pods", "-n", ns, "-l", "kamaji.clastix.io/name=" + name,
                                               "-o", "json").stdout)["items"], timeout=300), "the sleeping control plane still has pods"

    proc, (woken, fetched) = module_play(platform, "wake", [
        tenant_cluster("web", TENANT_VERSION, vip, sleep=False, workers=[{"name": "md-0", "replicas": 1}]),
        {"kmetal.platform.tenant_kubeconfig": {"name": "web", "tenant": "e2e", "dest": kubeconfig, "wait_timeout": 600}}])
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert woken["changed"] and not woken["summary"]["sleeping"] and fetched["version"] == TENANT_VERSION
    cluster = json.loads(kubectl(platform, "get", "cluster", "web", "-n", ns, "-o", "json").stdout)
    assert cluster["spec"]["topology"]["controlPlane"]["replicas"] == 1


def test_a_guarded_upgrade_through_the_real_kamaji_keeps_the_api_answering(platform):
    """Issue 11 on the real controllers: a cluster at TENANT_KUBERNETES_PREVIOUS_VERSION bumped one minor with wait:
    the module returns when Kamaji runs the new version and says how long it took; the API answers it."""
    old, vip = PINS["TENANT_KUBERNETES_PREVIOUS_VERSION"], platform["base"] + ".206"
    kubeconfig = str(platform["inventory"].parent / "tenant-kubeconfigs" / "e2e-old.kubeconfig")
    fetch = {"kmetal.platform.tenant_kubeconfig": {"name": "old", "tenant": "e2e", "dest": kubeconfig, "wait_timeout": 600}}
    proc, (_created, before) = module_play(platform, "old", [tenant_cluster("old", old, vip), fetch])
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert before["version"] == old
    proc, (upgraded, after) = module_play(platform, "upgrade", [tenant_cluster("old", TENANT_VERSION, vip, wait=True, wait_timeout=900), fetch])
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert upgraded["upgrade"]["from"] == old and upgraded["upgrade"]["to"] == TENANT_VERSION and upgraded["upgrade"]["seconds"] > 0
    print("tenant e2e/old: %s -> %s in %.1f s" % (old, TENANT_VERSION, upgraded["upgrade"]["seconds"]))
    assert after["version"] == TENANT_VERSION
    proc, (again,) = module_play(platform, "upgrade-again", [tenant_cluster("old", TENANT_VERSION, vip, wait=True)])
    assert proc.returncode == 0 and not again["changed"], proc.stdout[-3000:]


def test_a_tenant_datastore_backed_up_and_restored_brings_the_tenants_data_back(platform):
    """Issue 11 on a real etcd: a tenant cluster on its tenant's dedicated DataStore; a ConfigMap written through the
    tenant's API; the chart's backup CronJob run once; the ConfigMap deleted; restore_datastore.yml refused while the
    control plane runs; the cluster put to sleep, restored from the newest snapshot, woken: the ConfigMap is back."""
    ns, vip, store = "tenant-vault", platform["base"] + ".207", "tenant-vault"
    kubeconfigs = platform["inventory"].parent / "tenant-kubeconfigs"
    extra = platform["inventory"].parent / "tenants-vault.yml"

    def tenants(sleep):
        """The tenants play with the vault tenant; SLEEP None leaves `sleep` out (a sleeping cluster is kept asleep)."""
        cluster = {"name": "db", "subnet": "vault-net", "version": TENANT_VERSION, "bootstrap_server_address": vip, "sleep": sleep,
                   "control_plane": {"replicas": 1, "service_address": vip, "service_type": "LoadBalancer"},
                   "workers": [{"name": "md-0", "replicas": 0}]}
        if sleep is None:
            del cluster["sleep"]
        extra.write_text(yaml.safe_dump({
            # a sleep (or a sleeping cluster kept asleep) waits until Kamaji reports Sleeping; a wake, until the
            # kubeconfig fetch reaches the API
            "kmetal_tenant_kubeconfig_dir": str(kubeconfigs), "tenants_wait": sleep is not False,
            "tenants_artifact_manifest": str(LAB_DIR / "mirror" / "manifest.json"),
            "kmetal_tenants": [{
                "name": "vault", "datastore": VAULT_DATASTORE, "subnets": [{"name": "vault-net", "cidr": ["10.211.0.0/24"]}],
                "clusters": [cluster]}]}))
        proc = playbook(platform["inventory"], PLAYS / "tenants.yml", "-e", "@%s" % extra, timeout=1500)
        assert proc.returncode == 0, proc.stdout[-8000:]
        return " ".join(proc.stdout.split())

    def tenant_kubectl(*args, check=True):
        proc = subprocess.run([str(KUBECTL), "--kubeconfig", str(kubeconfigs / "vault-db.kubeconfig"), *args],
                              capture_output=True, text=True, timeout=120)
        assert not check or proc.returncode == 0, proc.stderr
        return proc

    def restore():
        return playbook(platform["inventory"], "kmetal.platform.restore_datastore", "-e", json.dumps({
            "kmetal_kubeconfig": str(platform["kubeconfig"]), "kmetal_datastore_restore_name": store,
            "kmetal_datastore_restore_confirm": store}), timeout=1200)

    # The lab's worker has 2 cores: the earlier tests' tenant control planes sleep, so that this one's rollout fits
    # (Kamaji adds the konnectivity server by a rolling update, which needs room for a second pod).
    proc, _slept = module_play(platform, "make-room", [
        tenant_cluster("web", TENANT_VERSION, platform["base"] + ".205", sleep=True, wait=True, workers=[{"name": "md-0", "replicas": 1}]),
        tenant_cluster("old", TENANT_VERSION, platform["base"] + ".206", sleep=True, wait=True)])
    assert proc.returncode == 0, proc.stdout[-6000:]

    start = time.monotonic()
    assert "vault/db answers at https://%s:6443: %s" % (vip, TENANT_VERSION) in tenants(sleep=False)
    tcp = json.loads(kubectl(platform, "get", "tenantcontrolplane", "-n", ns, "-o", "json").stdout)["items"][0]
    assert tcp["spec"]["dataStore"] == store, tcp["spec"]  # on the tenant's own etcd, not the default DataStore
    tenant_kubectl("create", "configmap", "kept", "-n", "default", "--from-literal=answer=42")

    job = "backup-" + uuid.uuid4().hex[:6]
    kubectl(platform, "create", "job", job, "--from=cronjob/%s-etcd-backup" % store, "-n", NAMESPACE)
    kubectl(platform, "wait", "--for=condition=Complete", "job/" + job, "-n", NAMESPACE, "--timeout=600s")
    stored = kubectl(platform, "logs", "job/" + job, "-c", "store", "-n", NAMESPACE).stdout
    assert re.search(r"stored %s-\d{8}T\d{6}Z\.db; kept: 1" % store, stored), stored

    tenant_kubectl("delete", "configmap", "kept", "-n", "default")
    assert "NotFound" in tenant_kubectl("get", "configmap", "kept", "-n", "default", check=False).stderr

    refused = restore()
    assert refused.returncode != 0
    assert re.search(r"use the DataStore %s and are running: put their clusters to sleep first" % store, " ".join(refused.stdout.split())), refused.stdout[-3000:]

    assert "vault/db sleeps;" in tenants(sleep=True)
    tcp = json.loads(kubectl(platform, "get", "tenantcontrolplane", tcp["metadata"]["name"], "-n", ns, "-o", "json").stdout)
    assert tcp["status"]["kubernetesResources"]["version"]["status"] == "Sleeping", tcp["status"]
    restored = restore()
    assert restored.returncode == 0, restored.stdout[-8000:]
    assert "restored the DataStore %s (1 etcd members) from its newest snapshot" % store in " ".join(restored.stdout.split())
    # an inventory that does not say `sleep` keeps the cluster asleep, and its API is not asked
    assert "vault/db sleeps;" in tenants(sleep=None)

    assert "vault/db answers at https://%s:6443" % vip in tenants(sleep=False)
    kept = json.loads(tenant_kubectl("get", "configmap", "kept", "-n", "default", "-o", "json").stdout)
    assert kept["data"] == {"answer": "42"}
    print("tenant datastore round trip (create, write, back up, delete, sleep, restore, wake, read): %.0f s" % (time.monotonic() - start))


# ---- Flux: the role bootstraps the release, then hands it to Flux, and never runs helm on it again ----

def get(platform, kind, name):
    return json.loads(kubectl(platform, "get", kind, name, "-n", NAMESPACE, "-o", "json").stdout)


def condition(obj, kind):
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def test_flux_controllers_are_ready(platform):
    for name in ("source-controller", "helm-controller"):
        kubectl(platform, "wait", "--for=condition=Available", "deployment/" + name, "-n", NAMESPACE, "--timeout=120s")
        image = get(platform, "deployment", name)["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.startswith("ghcr.io/fluxcd/" + name + ":v"), image  # pulled through the lab mirror
    kubectl(platform, "get", "crd", "helmreleases.helm.toolkit.fluxcd.io", "ocirepositories.source.toolkit.fluxcd.io")


def test_the_oci_repository_is_ready_from_the_lab_registry(platform):
    repo = get(platform, "ocirepository", "kmetal")
    assert condition(repo, "Ready").get("status") == "True", repo["status"]
    spec = repo["spec"]
    assert spec["url"] == FLUX["url"] and not spec.get("insecure"), spec
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", spec["ref"]["digest"]), spec["ref"]  # pinned, not just a tag
    assert spec["certSecretRef"]["name"] == "kmetal-registry-ca"  # TLS verified with the lab's CA
    assert spec["ref"]["digest"] in repo["status"]["artifact"]["revision"], repo["status"]["artifact"]


def test_the_helmrelease_is_ready_and_helm_controller_made_the_newest_revision(platform):
    release = get(platform, "helmrelease", "kmetal")
    assert condition(release, "Ready").get("status") == "True", release["status"]
    latest = release["status"]["history"][0]
    assert latest["status"] == "deployed" and "+" in latest["chartVersion"], latest  # the published <version>+<digest>
    history = helm_revisions(platform["kubeconfig"])
    assert history[-1]["revision"] == latest["version"], (history[-1], latest)
    # the bootstrap's phases were helm from the role, the hand-over's upgrade is helm-controller's
    assert any("+" not in h["chart"] for h in history[:-1]) and "+" in history[-1]["chart"], history


def test_a_rerun_changes_nothing_and_adds_no_helm_revision(platform):
    revisions = platform["revisions"]
    assert revisions["first"] and revisions["second"] == revisions["first"], revisions
    for run in ("second", "recheck"):
        out = " ".join(platform[run].stdout.split())
        assert "owned by Flux" in out and "helm not run" in out, platform[run].stdout[-3000:]
        assert "install or upgrade the release (phase" not in platform[run].stdout
    assert recap(platform["recheck"].stdout)["localhost"]["changed"] == 0


def test_a_values_change_through_the_role_is_applied_by_flux_not_by_helm_from_the_role(platform):
    before = helm_revisions(platform["kubeconfig"])
    changed = dict(FLUX, interval="7m")
    proc = playbook(platform["inventory"], PLAYS / "platform.yml", "-e", json.dumps({"kmetal_flux": changed}), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert recap(proc.stdout)["localhost"]["changed"] >= 1
    assert "install or upgrade the release (phase" not in proc.stdout  # no helm upgrade from the role
    assert "values, applied by Flux" in " ".join(proc.stdout.split())
    values = yaml.safe_load(get(platform, "configmap", "kmetal-values")["data"]["values.yaml"])
    assert values["flux"]["interval"] == "7m"
    release = get(platform, "helmrelease", "kmetal")
    assert release["spec"]["interval"] == "7m"  # rendered by helm-controller from the new values
    after = helm_revisions(platform["kubeconfig"])
    # one upgrade (helm-controller keeps the newest 5 revisions, so the count says nothing)
    assert after[-1]["revision"] == before[-1]["revision"] + 1 and after[-1]["status"] == "deployed", (before[-1:], after[-2:])
    assert release["status"]["history"][0]["version"] == after[-1]["revision"]  # helm-controller's revision
    again = playbook(platform["inventory"], PLAYS / "platform.yml", "-e", json.dumps({"kmetal_flux": changed}), timeout=1200)
    assert again.returncode == 0 and recap(again.stdout)["localhost"]["changed"] == 0, again.stdout[-6000:]
    assert helm_revisions(platform["kubeconfig"]) == after
