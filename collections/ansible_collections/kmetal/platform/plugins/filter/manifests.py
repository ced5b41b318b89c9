# -*- coding: utf-8 -*-
# Copyright: (c) 2026, kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rendered manifests as the platform role handles them."""

from __future__ import annotations

import copy


def _key(doc):
    meta = doc.get("metadata") or {}
    return (doc.get("apiVersion"), doc.get("kind"), meta.get("namespace"), meta.get("name"))


def dry_run_objects(all_docs, deployed_docs, namespace):
    """The objects of ALL_DOCS that DEPLOYED_DOCS lacks (the pieces that are checked, not deployed), ready for a
    server-side dry-run: CRDs and Namespaces left out (the CRDs are installed; a dry-run creates no namespace), and
    an object in a namespace only those pieces would create is checked in NAMESPACE instead."""
    deployed = {_key(d) for d in deployed_docs if isinstance(d, dict)}
    extra = [d for d in all_docs if isinstance(d, dict) and d.get("kind") and _key(d) not in deployed]
    new_namespaces = {d["metadata"]["name"] for d in extra if d["kind"] == "Namespace"}
    out = []
    for doc in extra:
        if doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        if (doc.get("metadata") or {}).get("namespace") in new_namespaces:
            doc = copy.deepcopy(doc)
            doc["metadata"]["namespace"] = namespace
        out.append(doc)
    return out


class FilterModule:
    def filters(self):
        return {"dry_run_objects": dry_run_objects}
