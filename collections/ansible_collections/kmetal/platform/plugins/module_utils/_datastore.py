# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-tenant datastores: a Kamaji DataStore of the tenant's own, over the dedicated etcd the kMetal chart runs for it
(charts/kmetal templates/lifecycle/datastore-etcd.yaml, values datastores.dedicated), and the check that the
DataStore a cluster references exists.

One etcd per tenant, because etcd cannot back up or restore one tenant's key prefix alone (kamaji#278): a tenant's
backup and restore then touch nobody else. The names below are the chart's: keep them in step.
"""

from __future__ import annotations

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import MANAGED_BY, TENANT_LABEL, KmetalError, ident
from ansible_collections.kmetal.platform.plugins.module_utils._validate import DNS1123_LABEL

NAME_MAX = 40  # <name>-etcd-backup is a CronJob: at most 52 characters

DATASTORE_OPTION = {"type": "dict", "options": {
    "name": {"type": "str"},
    "replicas": {"type": "int", "default": 3},
    "namespace": {"type": "str", "default": "kmetal-flux"},
}}


def etcd_name(name):
    return "%s-etcd" % name


def endpoints(name, namespace, replicas):
    """The dedicated etcd's client endpoints (host:port, no scheme): its StatefulSet's pods by stable DNS name."""
    svc = etcd_name(name)
    return ["%s-%d.%s.%s.svc.cluster.local:2379" % (svc, i, svc, namespace) for i in range(replicas)]


def _secret(name, namespace, key):
    return {"secretReference": {"name": name, "namespace": namespace, "keyPath": key}}


def datastore_name(p, namespace):
    ds = p.get("datastore")
    if ds is None:
        return None
    return ds.get("name") or namespace


def validate(p, namespace, problems):
    """The datastore option, without the API; returns the DataStore to create (None without the option)."""
    ds = p.get("datastore")
    if ds is None:
        return None
    name = datastore_name(p, namespace)
    if name is None:
        return None
    if problems.label_name("datastore.name", name, max_len=NAME_MAX) is None and len(name or "") > NAME_MAX and DNS1123_LABEL.match(name):
        problems.items[-1] += " (the chart names its etcd's objects after it, e.g. %s-backup, a CronJob of at most 52)" % etcd_name("<name>")
    problems.label_name("datastore.namespace", ds.get("namespace"))
    replicas = problems.int_range("datastore.replicas", ds.get("replicas"), 1, 7)
    if replicas is not None and replicas % 2 == 0:
        problems.add("datastore.replicas", "%d etcd members tolerate no more failures than %d: give an odd number (1, 3, 5 or 7)" % (replicas, replicas - 1))
    given = (p.get("control_plane") or {}).get("data_store_name")
    if given not in (None, "default", name):
        problems.add("control_plane.data_store_name", "%s contradicts datastore (the dedicated DataStore %s): leave data_store_name out, or "
                                                      "drop datastore to use %s" % (given, name, given))
    if problems.items:
        return None
    labels = dict(MANAGED_BY)
    if p.get("tenant"):
        labels[TENANT_LABEL] = p["tenant"]
    ns = ds["namespace"]
    ca, client = "%s-ca" % etcd_name(name), "%s-root-client" % etcd_name(name)
    return {
        "apiVersion": "kamaji.clastix.io/v1alpha1", "kind": "DataStore", "metadata": {"name": name, "labels": labels},
        "spec": {
            "driver": "etcd",
            "endpoints": endpoints(name, ns, replicas),
            "tlsConfig": {
                # cert-manager's CA secret: the CA certificate and its key (Kamaji signs each tenant's etcd client with it)
                "certificateAuthority": {"certificate": _secret(ca, ns, "ca.crt"), "privateKey": _secret(ca, ns, "tls.key")},
                "clientCertificate": {"certificate": _secret(client, ns, "tls.crt"), "privateKey": _secret(client, ns, "tls.key")},
            },
        },
    }


def check_owner(desired, live):
    """A DataStore of the same name that this collection did not create, or another tenant's, is never taken over."""
    if live is None:
        return
    labels = live["metadata"].get("labels") or {}
    where = ident("DataStore", desired["metadata"]["name"])
    if any(labels.get(k) != v for k, v in MANAGED_BY.items()):
        raise KmetalError("exists and was not created by kmetal.platform: refusing to take it over; give datastore.name another name, or "
                          "reference it with control_plane.data_store_name instead of datastore", obj=where, field="datastore.name")
    mine, theirs = (desired["metadata"]["labels"].get(TENANT_LABEL), labels.get(TENANT_LABEL))
    if theirs != mine:
        raise KmetalError("belongs to tenant %s: a tenant's datastore is its own; give datastore.name another name" % theirs, obj=where,
                          field="datastore.name")


def check_referenced(desired, snapshot, declared=None):
    """The DataStore the Cluster's controlPlane variable names must exist (or be written by the same run): Kamaji
    leaves a control plane whose DataStore is missing unprovisioned, with no error on the Cluster."""
    meta, topology = desired["metadata"], desired["spec"]["topology"]
    name = None
    for var in topology.get("variables") or []:
        if var.get("name") == "controlPlane" and isinstance(var.get("value"), dict):
            name = var["value"].get("dataStoreName")
    if not name or ("DataStore", None, name) in (declared or {}):
        return
    if snapshot.get("DataStore", name) is not None:
        return
    known = sorted(o["metadata"]["name"] for o in snapshot.client.list("DataStore"))
    raise KmetalError("the DataStore %s does not exist (the platform has: %s): name an existing one, or give datastore to create the tenant's "
                      "own" % (name, ", ".join(known) or "none"), obj=ident("Cluster", meta["name"], meta["namespace"]),
                      field="control_plane.data_store_name")
