# -*- coding: utf-8 -*-
"""Pure logic of the Kubernetes layer: normalisation, changed/diff, the no-op decision, retries with backoff."""

from __future__ import annotations

import json

import pytest

from ansible_collections.kmetal.platform.plugins.module_utils import _k8s
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import FIELD_MANAGER, Client, KmetalError
from ansible_collections.kmetal.platform.plugins.module_utils._reconcile import changed, diff_entry, needs_apply, normalize, subset

DESIRED = {"apiVersion": "kubeovn.io/v1", "kind": "Vpc", "metadata": {"name": "acme", "labels": {"a": "1"}},
           "spec": {"namespaces": ["tenant-acme"], "enableExternal": False}}


def live(fields, **spec):
    body = {"namespaces": ["tenant-acme"], "enableExternal": False}
    body.update(spec)
    return {"apiVersion": "kubeovn.io/v1", "kind": "Vpc",
            "metadata": {"name": "acme", "labels": {"a": "1", "other": "x"}, "resourceVersion": "7", "generation": 2,
                         "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": fields}]},
            "spec": body, "status": {"ready": True}}


OURS = {"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:namespaces": {}, "f:enableExternal": {}}}


def test_noop_when_we_own_exactly_the_fields_and_values_match():
    assert needs_apply(DESIRED, live(OURS)) is False


def test_apply_when_a_value_differs_or_a_field_is_added_or_dropped():
    assert needs_apply(DESIRED, live(OURS, enableExternal=True))
    assert needs_apply(DESIRED, live(OURS, namespaces=["tenant-acme", "x"]))
    assert needs_apply(DESIRED, live({"f:metadata": {"f:labels": {"f:a": {}, "f:b": {}}}, "f:spec": OURS["f:spec"]}))
    assert needs_apply(DESIRED, live({"f:spec": OURS["f:spec"]}))
    assert needs_apply(DESIRED, None)
    assert needs_apply(DESIRED, dict(live(OURS), metadata={"name": "acme"}))


def test_map_lists_count_their_items():
    desired = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"items": [{"name": "a", "v": 1}]}}
    have = {"metadata": {"name": "a", "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {
        "f:spec": {"f:items": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}, "f:v": {}}}}}}]},
        "spec": {"items": [{"name": "a", "v": 1, "defaulted": True}, {"name": "b"}]}}
    assert needs_apply(desired, have) is False
    desired["spec"]["items"].append({"name": "b"})
    assert needs_apply(desired, have)


def test_subset():
    assert subset({"a": [1, 2]}, {"a": [2, 1], "b": 3})
    assert not subset({"a": [1, 1]}, {"a": [1, 2]})
    assert not subset({"a": True}, {"a": 1})
    assert subset({"a": {"b": "c"}}, {"a": {"b": "c", "d": "e"}})


def test_changed_and_diff_ignore_what_the_server_owns():
    before = live(OURS)
    after = json.loads(json.dumps(before))
    after["metadata"].update(resourceVersion="8", generation=3, managedFields=[])
    after["status"] = {"ready": False}
    assert not changed(before, after)
    after["spec"]["enableExternal"] = True
    assert changed(before, after)
    entry = diff_entry(before, after, "Vpc acme")
    assert "resourceVersion" not in entry["before"]["metadata"] and "status" not in entry["after"]
    assert normalize(None) is None


class FakeResponse(object):
    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.data = json.dumps(body).encode() if body is not None else b""
        self.headers = headers or {}
        self.reason = "reason"


class FakePool(object):
    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def request(self, *args, **kwargs):
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def client(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    sleeps = []
    c = Client({"kubeconfig": str(kubeconfig), "request_timeout": 10}, sleep=sleeps.append)
    c.sleeps = sleeps
    return c


def test_retries_throttling_and_server_errors_then_succeeds(client):
    client.pool = FakePool([FakeResponse(429, headers={"Retry-After": "1"}), FakeResponse(503), FakeResponse(200, {"kind": "Vpc"})])
    assert client.request("GET", "/x") == (200, {"kind": "Vpc"})
    assert client.pool.calls == 3 and client.sleeps[0] >= 1 and len(client.sleeps) == 2


def test_retries_dropped_connections_then_names_the_server(client):
    err = _k8s.urllib3.exceptions.ProtocolError("Connection aborted", ConnectionResetError())
    client.pool = FakePool([err] * 10)
    with pytest.raises(KmetalError, match=r"cannot reach the Kubernetes API at https://127.0.0.1:1 after 5 attempts"):
        client.request("GET", "/x", what="Vpc acme")
    assert client.pool.calls == 5


def test_errors_carry_the_object_and_the_server_reason(client):
    client.pool = FakePool([FakeResponse(422, {"message": "spec.vpc: Invalid value"})])
    with pytest.raises(KmetalError, match=r"^Subnet a: the API server answered 422 \(server said: spec.vpc: Invalid value\)"):
        client.request("PATCH", "/x", what="Subnet a")
    client.pool = FakePool([FakeResponse(409, {"message": "conflict"})])
    assert client.request("PATCH", "/x")[0] == 409


def test_tls_is_verified_by_default(client):
    assert client.pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"


def test_kubeconfig_contexts_and_explicit_options(tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "current-context": "a",
        "clusters": [{"name": "a", "cluster": {"server": "https://a:6443", "certificate-authority": "ca.crt"}},
                     {"name": "b", "cluster": {"server": "https://b:6443", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "secret"}}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "u"}}, {"name": "b", "context": {"cluster": "b", "user": "u"}}]}))
    a = _k8s.connection_settings({"kubeconfig": str(kubeconfig)})
    assert a["host"] == "https://a:6443" and a["ca_file"] == str(tmp_path / "ca.crt") and a["token"] == "secret" and a["verify"]
    b = _k8s.connection_settings({"kubeconfig": str(kubeconfig), "context": "b", "api_key": "other", "host": "https://c:6443"})
    assert b["host"] == "https://c:6443" and b["token"] == "other" and b["verify"] is False
    with pytest.raises(KmetalError, match="context: .*has no context 'nope'"):
        _k8s.connection_settings({"kubeconfig": str(kubeconfig), "context": "nope"})
    with pytest.raises(KmetalError, match="cannot read the kubeconfig"):
        _k8s.connection_settings({"kubeconfig": str(tmp_path / "missing")})
