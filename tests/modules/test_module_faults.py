"""Faults: a concurrent writer between read and write (409, re-read, re-check, apply again), an API server that
refuses connections, and one that accepts them but never answers. Each ends in a clear message, never a hang."""

import socket
import sys
from pathlib import Path

import yaml
from kmetal_tasks import task
from kubernetes import client

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.kmetal.platform.plugins.module_utils import _network, _reconcile  # noqa: E402
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client  # noqa: E402

KUBEOVN = ("kubeovn.io", "v1")


def test_conflict_between_read_and_write_is_retried_after_a_fresh_read(k8s, audit, module_identity, uniq):
    user, kubeconfig = module_identity
    api = Client({"kubeconfig": str(kubeconfig), "request_timeout": 10})
    name = "conflict-%s" % uniq
    params = {"name": name, "tenant": "t-" + uniq, "state": "present", "static_routes": [], "policy_routes": [], "platform_cidrs": ["10.96.0.0/16"],
              "platform_drop_priority": 31000, "enable_external": False}
    first = _network.build_vpc(params)
    assert _reconcile.apply_object(api, first, None, False)[0] is True
    stale = api.get("Vpc", name)

    # someone else changes the VPC after our read
    client.CustomObjectsApi(k8s).patch_cluster_custom_object(*KUBEOVN, "vpcs", name, {"metadata": {"labels": {"owner-note": "ops"}}})
    seen = []
    checked = []

    def reread():
        seen.append(True)
        return api.get("Vpc", name)

    mark = audit.mark()
    desired = _network.build_vpc(dict(params, platform_cidrs=["10.96.0.0/16", "192.168.10.0/24"]))
    changed, before, after = _reconcile.apply_object(api, desired, stale, False, reread=reread, check=checked.append)
    assert changed is True and seen == [True] and len(checked) == 2  # checked again on the fresh object
    assert before["metadata"]["labels"]["owner-note"] == "ops"  # the diff is against what the server really had
    assert after["metadata"]["labels"]["owner-note"] == "ops" and len(after["spec"]["policyRoutes"]) == 2
    patches = [e for e in audit.events(mark, user=user) if e["verb"] == "patch"]
    assert [e["responseStatus"]["code"] for e in patches] == [409, 200]
    client.CustomObjectsApi(k8s).delete_cluster_custom_object(*KUBEOVN, "vpcs", name)


def kubeconfig_for(tmp_path, lab_api, server):
    config = yaml.safe_load(Path(lab_api.kubeconfig).read_text())
    config["clusters"][0]["cluster"]["server"] = server
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_unreachable_api_fails_fast_with_the_address(play, lab_api, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the with-block ends: nothing listens there
    kubeconfig = kubeconfig_for(tmp_path, lab_api, "https://127.0.0.1:%d" % port)
    run = play([task("tenant", name="unreachable", request_timeout=5, ignore_errors=True),
                task("subnet_info", request_timeout=5, ignore_errors=True)], kubeconfig=kubeconfig)
    for result in run.results:
        assert "cannot reach the Kubernetes API at https://127.0.0.1:%d" % port in result["msg"], result["msg"]
        assert "Connection refused" in result["msg"] or "refused" in result["msg"].lower()
    assert run.seconds < 60


def test_api_that_never_answers_times_out(play, lab_api, tmp_path):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes TCP handshakes; nobody ever reads or answers
        kubeconfig = kubeconfig_for(tmp_path, lab_api, "https://127.0.0.1:%d" % silent.getsockname()[1])
        run = play([task("vpc", name="silent", request_timeout=3, ignore_errors=True)], kubeconfig=kubeconfig)
    assert "cannot reach the Kubernetes API" in run[0]["msg"] and "within 3s" in run[0]["msg"], run[0]["msg"]
    assert run.seconds < 60
