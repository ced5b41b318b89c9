# -*- coding: utf-8 -*-
"""The one engine: what must exist once exists once (the tenant namespace's spelling), and the fleet's mapping of the
inventory's tenant shape gives the per-item builders the namespace the tenant module computes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ansible_collections.kmetal.platform.plugins.module_utils import _fleet, _tenant
from ansible_collections.kmetal.platform.plugins.module_utils._fleet import FLEET_ARGS

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
