"""tenant_kubeconfig against the lab API: Cluster API's kubeconfig Secret of a tenant cluster fetched to a file only
its owner reads, its API asked for its version with it, re-runs and --check that change nothing, --diff that never
shows the credential, and the failures an operator meets named. The tenant API here is the lab API itself (a
kubeconfig Secret pointing at it, as CACPK writes one pointing at the tenant's VIP)."""

import base64
import stat
import uuid
from pathlib import Path

import yaml
from kmetal_tasks import task
from kubernetes import client


def kubeconfig_secret(k8s, namespace, cluster, config):
    body = {"metadata": {"name": "%s-kubeconfig" % cluster, "namespace": namespace,
                         "labels": {"cluster.x-k8s.io/cluster-name": cluster}},
            "type": "cluster.x-k8s.io/secret",
            "data": {"value": base64.b64encode(yaml.safe_dump(config).encode()).decode()}}
    api = client.CoreV1Api(k8s)
    try:
        api.create_namespaced_secret(namespace, body)
    except client.ApiException as err:
        if err.status != 409:
            raise
        api.replace_namespaced_secret(body["metadata"]["name"], namespace, body)


def lab_config(module_identity):
    """The session's kubeconfig with its files inlined, as a Secret carries one."""
    config = yaml.safe_load(module_identity[1].read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    cluster["certificate-authority-data"] = base64.b64encode(open(cluster.pop("certificate-authority"), "rb").read()).decode()
    for key in ("client-certificate", "client-key"):
        user[key + "-data"] = base64.b64encode(open(user.pop(key), "rb").read()).decode()
    return config


def test_the_kubeconfig_is_fetched_0600_and_its_api_answers_then_nothing_changes(play, k8s, namespace, module_identity, tmp_path):
    config = lab_config(module_identity)
    kubeconfig_secret(k8s, namespace, "prod", config)
    dest = tmp_path / "kubeconfigs" / "acme-prod.kubeconfig"
    args = dict(name="prod", namespace=namespace, dest=str(dest), wait_timeout=30)
    first = play([task("tenant_kubeconfig", **args)])[0]
    assert first["changed"] and first["server"] == config["clusters"][0]["cluster"]["server"], first
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and yaml.safe_load(dest.read_text()) == config
    version = client.VersionApi(k8s).get_code().git_version
    assert first["version"] == version
    key = config["users"][0]["user"]["client-key-data"]
    assert key not in str(first)  # the credential is in the file only

    again = play([task("tenant_kubeconfig", **args)])[0]
    assert not again["changed"] and again["version"] == version

    # a new credential (the provider rotated it): --check predicts the write and leaves the file as it was
    config["contexts"][0]["name"] = "rotated"
    config["current-context"] = "rotated"
    kubeconfig_secret(k8s, namespace, "prod", config)
    before = dest.read_text()
    predicted = play([task("tenant_kubeconfig", **args)], check=True)[0]
    assert predicted["changed"] and dest.read_text() == before
    diff = str(predicted["diff"])
    assert "sha256" in diff and key not in diff and "rotated" not in diff
    written = play([task("tenant_kubeconfig", **args)])[0]
    assert written["changed"] and yaml.safe_load(dest.read_text())["current-context"] == "rotated"

    # a mode loosened by hand is put back
    dest.chmod(0o644)
    fixed = play([task("tenant_kubeconfig", **args)])[0]
    assert fixed["changed"] and stat.S_IMODE(dest.stat().st_mode) == 0o600


def test_a_cluster_without_its_kubeconfig_yet_or_an_api_that_does_not_answer_is_named(play, k8s, namespace, module_identity, tmp_path):
    dest = tmp_path / "x.kubeconfig"
    missing = play([task("tenant_kubeconfig", ignore_errors=True, name="late", namespace=namespace, dest=str(dest), wait=False)])[0]
    assert missing["failed"] and "Secret %s/late-kubeconfig: does not exist yet" % namespace in missing["msg"], missing["msg"]
    waited = play([task("tenant_kubeconfig", ignore_errors=True, name="late", namespace=namespace, dest=str(dest), wait_timeout=3)])[0]
    assert waited["failed"] and "timed out after 3s waiting for the control plane's kubeconfig" in waited["msg"], waited["msg"]
    assert not dest.exists()

    config = lab_config(module_identity)
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"  # nothing listens there
    kubeconfig_secret(k8s, namespace, "dead", config)
    dead = play([task("tenant_kubeconfig", ignore_errors=True, name="dead", namespace=namespace, dest=str(dest), wait=False)])[0]
    assert dead["failed"] and "the tenant API at https://127.0.0.1:1 does not answer" in dead["msg"], dead["msg"]


def test_bad_input_is_refused_before_any_request(play, tmp_path):
    run = play([task("tenant_kubeconfig", ignore_errors=True, name="prod", tenant="acme", dest=str(tmp_path / "k"), mode="0644")])
    result = run[0]
    assert result["failed"] and "mode: 0644 lets others than the owner read a cluster-admin credential: give 0600" in result["msg"]
    assert run.writes == [] and "api_requests" not in result


def test_an_api_that_answers_but_does_not_let_the_kubeconfigs_user_in_is_not_taken_as_up(play, k8s, namespace, lab_api, tmp_path):
    """A new tenant control plane answers /version before its RBAC bootstrap binds the admin's group: the module waits
    for the user to be let in, and names that when it never is (here: a user of the lab CA with no binding at all)."""
    from kmetal_lab import pki

    ca = pki.CA(Path(lab_api.ca_cert).parent)
    ca.dir = tmp_path
    crt, key = ca.issue("nobody", "kmetal-nobody-%s" % uuid.uuid4().hex[:6], client=True)
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "t",
              "clusters": [{"name": "lab", "cluster": {"server": lab_api.server,
                                                       "certificate-authority-data": base64.b64encode(Path(lab_api.ca_cert).read_bytes()).decode()}}],
              "users": [{"name": "nobody", "user": {"client-certificate-data": base64.b64encode(crt.read_bytes()).decode(),
                                                    "client-key-data": base64.b64encode(key.read_bytes()).decode()}}],
              "contexts": [{"name": "t", "context": {"cluster": "lab", "user": "nobody"}}]}
    kubeconfig_secret(k8s, namespace, "locked", config)
    dest = tmp_path / "locked.kubeconfig"
    locked = play([task("tenant_kubeconfig", ignore_errors=True, name="locked", namespace=namespace, dest=str(dest), wait_timeout=3)])[0]
    assert locked["failed"], locked
    assert "does not answer with this kubeconfig after 3s: it answers" in locked["msg"], locked["msg"]
    assert "this kubeconfig's user may not list namespaces there" in locked["msg"], locked["msg"]
