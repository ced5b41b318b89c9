# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the checks read of the cluster, behind one interface: a per-item module's snapshot comes from GETs (one
object at a time, read when first asked), the fleet's from one LIST per kind. The domain checks take either."""

from __future__ import annotations

import threading


def key(obj):
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace"), meta["name"]


class Snapshot(object):
    """Live objects by (kind, namespace, name), read lazily with GETs; subnets() lists the Subnets once."""

    def __init__(self, client):
        self.client = client
        self.objects = {}
        self._subnets = None
        self._lock = threading.Lock()

    def get(self, kind, name, namespace=None):
        k = (kind, namespace, name)
        with self._lock:
            if k in self.objects:
                return self.objects[k]
        obj = self.client.get(kind, name, namespace)
        with self._lock:
            self.objects[k] = obj
        return obj

    def refresh(self, kind, name, namespace=None):
        """Read the object again (after a 409: someone else wrote it since)."""
        with self._lock:
            self.objects.pop((kind, namespace, name), None)
            self._subnets = None if kind == "Subnet" else self._subnets
        return self.get(kind, name, namespace)

    def subnets(self):
        """Every Subnet of the cluster (overlap checks look at every subnet of a VPC, whoever made it)."""
        if self._subnets is None:
            self._subnets = self.client.list("Subnet")
        return self._subnets


class ListSnapshot(Snapshot):
    """One LIST per kind, up front (KINDS: {kind: label selector or None for every object}); a kind not listed is
    read with GETs like the base class."""

    def __init__(self, client, kinds):
        super().__init__(client)
        self.listed = set()
        for kind, selector in kinds.items():
            for obj in client.list(kind, label_selector=selector):
                self.objects[key(obj)] = obj
            self.listed.add(kind)
        if "Subnet" in kinds and kinds["Subnet"] is None:
            self._subnets = [o for (kind, _ns, _n), o in self.objects.items() if kind == "Subnet"]

    def get(self, kind, name, namespace=None):
        if kind in self.listed:
            return self.objects.get((kind, namespace, name))
        return super().get(kind, name, namespace)

    def refresh(self, kind, name, namespace=None):
        obj = self.client.get(kind, name, namespace)
        with self._lock:
            self.objects[(kind, namespace, name)] = obj
        return obj

    def of_kind(self, kind):
        return [o for (k, _ns, _n), o in self.objects.items() if k == kind and o is not None]
