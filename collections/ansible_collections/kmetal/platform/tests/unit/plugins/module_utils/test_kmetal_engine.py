# -*- coding: utf-8 -*-
"""The one engine: what must exist once exists once (the tenant namespace's spelling), and the fleet's mapping of the
inventory's tenant shape gives the per-item builders the namespace the tenant module computes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ansible_collections.kmetal.platform.plugins.module_utils import _bulk, _fleet, _tenant
from ansible_collections.kmetal.platform.plugins.module_utils._fleet import FLEET_ARGS
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KmetalError

PLUGINS = Path(_tenant.__file__).resolve().parents[1]
# a string that builds a tenant's namespace name: "tenant-%s", "tenant-{...}", or "tenant-" + name
SPELLING = re.compile(r"tenant-(%s|\{|$)")
DOC_BLOCKS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}


def spellings(path):
    """The functions (innermost) whose code holds a string spelling the tenant namespace; docs and docstrings aside."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in DOC_BLOCKS for t in node.targets):
            skip.update(id(n) for n in ast.walk(node.value))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None:
            skip.add(id(node.body[0].value))
    owner = {}
    for func in [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:  # outer first: inner ones overwrite
        for node in ast.walk(func):
            owner[id(node)] = getattr(func, "name", "<module>")
    return {"%s:%s" % (path.relative_to(PLUGINS), owner[id(node)]) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip and SPELLING.search(node.value)}


def test_the_tenant_namespace_is_spelled_in_one_place():
    found = set()
    for path in sorted(PLUGINS.rglob("*.py")):
        found |= spellings(path)
    assert found == {"module_utils/_tenant.py:tenant_namespace"}, "tenant-<name> spelled outside _tenant.tenant_namespace: %s" % sorted(found)


def test_the_fleet_gives_vpc_and_subnets_the_tenant_modules_namespace():
    defaults = {k: v.get("default") for k, v in FLEET_ARGS.items()}
    problems = []
    for entry in ({"name": "acme"}, {"name": "acme", "namespace": "acme-prod", "adopt_namespace": True}):
        entry = dict(entry, subnets=[{"name": "acme-a", "cidr": ["10.200.0.0/24"]}], clusters=[{"name": "c1"}])
        params = _fleet.module_params(entry, defaults, "tenants[0]", problems)
        ns = _tenant.tenant_namespace(entry["name"], entry.get("namespace"))
        assert params["vpc"]["namespaces"] == [ns] and params["subnets"][0]["namespaces"] == [ns]
    assert problems == []


def fleet_params(tenants):
    return dict({k: v.get("default") for k, v in FLEET_ARGS.items()}, tenants=tenants)


def test_every_tenant_of_a_fleet_gets_the_specs_defaults_afresh():
    """The argspec validators are built once per run: the defaults one tenant receives ({} of control_plane, quota,
    limits; [] of workers) must not carry what the validator filled in for an earlier tenant."""
    tenants = [{"name": "t%d" % i, "subnets": [{"name": "t%d-a" % i, "cidr": ["10.200.0.0/24"]}],
                "clusters": [{"name": "c1", "bootstrap_server_address": "198.18.1.201"}]} for i in range(3)]
    fleet = _fleet.Fleet(fleet_params(tenants))
    clusters = [obj for obj, _check in fleet.items if obj["kind"] == "Cluster"]
    assert len(clusters) == 3 and all(c == dict(clusters[0], metadata=c["metadata"]) for c in clusters)
    quotas = [obj["spec"] for obj, _check in fleet.items if obj["kind"] == "ResourceQuota"]
    assert quotas == [quotas[0]] * 3


class FakeClient(object):
    """Answers applies from a table {(kind, name): status}; records every request."""

    def __init__(self, refuse):
        self.refuse = refuse
        self.calls = []

    def apply(self, obj, dry_run=False):
        self.calls.append(("apply", obj["kind"], dry_run))
        status = self.refuse.get(obj["kind"])
        if status:
            raise KmetalError("the API server answered %d" % status, obj=obj["kind"], status=status)
        return 200, dict(obj, metadata=dict(obj["metadata"], resourceVersion="1"))

    def delete(self, kind, name, namespace=None, **_kwargs):
        self.calls.append(("delete", kind, name))
        return 200, {}


class Live(object):
    def __init__(self, objects):
        self.objects = objects

    def get(self, kind, name, namespace=None):
        return self.objects.get((kind, namespace, name))


def test_a_refusal_in_check_mode_deletes_nothing_and_reports_the_refusal():
    _ns, objects = _tenant.build_tenant({"name": "acme", "quota": {"pods": "10"}})
    live_ns = dict(objects[0], metadata=dict(objects[0]["metadata"], resourceVersion="1"))
    client = FakeClient({"LimitRange": 422})
    report = _bulk.new_report()
    # the namespace exists; the quota would be created (dry run), then the limit range is refused
    with pytest.raises(KmetalError, match="422") as err:
        _bulk.write_unit(client, {"objects": objects, "absent": []}, Live({("Namespace", None, "tenant-acme"): live_ns}), True, False, report)
    assert not [c for c in client.calls if c[0] == "delete"], "a dry run created nothing: nothing to undo"
    assert "undone" not in err.value.details and report["written"] == []


def test_a_refusal_undoes_what_the_unit_created():
    _ns, objects = _tenant.build_tenant({"name": "acme", "quota": {"pods": "10"}})
    client = FakeClient({"LimitRange": 422})
    report = _bulk.new_report()
    with pytest.raises(KmetalError, match="this run's writes of it were undone") as err:
        _bulk.write_unit(client, {"objects": objects, "absent": []}, Live({}), False, False, report)
    assert err.value.details["undone"] == ["Namespace tenant-acme", "ResourceQuota tenant-acme/kmetal-tenant-quota"]
    assert ("delete", "Namespace", "tenant-acme") in client.calls and report["written"] == [] and report["changed"] == []


def test_tenants_file_holds_the_list_or_one_key_with_it(tmp_path):
    listed, keyed, json_file = tmp_path / "a.yml", tmp_path / "b.yml", tmp_path / "c.json"
    listed.write_text("- name: acme\n  quota: {cpu: 4}\n- name: globex\n")
    keyed.write_text("kmetal_tenants:\n  - name: acme\n")
    json_file.write_text('[{"name": "acme"}]')
    assert _fleet.load_tenants_file(str(listed)) == [{"name": "acme", "quota": {"cpu": 4}}, {"name": "globex"}]
    assert _fleet.load_tenants_file(str(keyed)) == _fleet.load_tenants_file(str(json_file)) == [{"name": "acme"}]
    bad = tmp_path / "bad.yml"
    for text, words in (("name: acme\nquota: {}\n", "holds dict, not a list of tenants"), ("acme\n", "holds str"), ("- [unclosed\n", "cannot read")):
        bad.write_text(text)
        with pytest.raises(KmetalError, match="tenants_file: .*" + words):
            _fleet.load_tenants_file(str(bad))
    with pytest.raises(KmetalError, match="tenants_file: cannot read the tenants from .*missing"):
        _fleet.load_tenants_file(str(tmp_path / "missing.yml"))
