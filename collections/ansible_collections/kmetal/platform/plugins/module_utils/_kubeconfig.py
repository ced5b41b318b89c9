# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant cluster's admin kubeconfig, fetched to the controller: the Secret Cluster API's control-plane provider
writes (<cluster>-kubeconfig, key value) copied to a file only its owner reads. The content is a credential: it is
never returned, shown in a diff or logged; the diff shows the file's checksum and mode instead."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import tempfile
import time

try:
    import yaml
except ImportError:  # the module runner refuses to start without PyYAML (_k8s.HAS_HTTP_YAML)
    yaml = None

from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client, KmetalError, ident
from ansible_collections.kmetal.platform.plugins.module_utils._lifecycle import sleeping
from ansible_collections.kmetal.platform.plugins.module_utils._tenant import tenant_namespace
from ansible_collections.kmetal.platform.plugins.module_utils._validate import Problems

KUBECONFIG_ARGS = dict(
    name={"type": "str", "required": True},
    tenant={"type": "str"},
    namespace={"type": "str"},
    dest={"type": "path", "required": True},
    mode={"type": "raw", "default": "0600"},
    wait={"type": "bool", "default": True},
    wait_timeout={"type": "int", "default": 600},
    probe={"type": "bool", "default": True},
)


def secret_name(cluster):
    """Cluster API's name for a cluster's admin kubeconfig Secret."""
    return "%s-kubeconfig" % cluster


def parse_mode(mode):
    """The file mode as an int; a kubeconfig is refused any bit for group or others."""
    if isinstance(mode, int) and not isinstance(mode, bool):  # YAML's unquoted 0600 is already the number 384
        value, text = mode, "%04o" % mode
    else:
        text = str(mode).strip()
        try:
            value = int(text, 8)
        except ValueError:
            return None, "%r is not an octal mode: give e.g. '0600'" % mode
    if value & 0o077:
        return None, "%s lets others than the owner read a cluster-admin credential: give 0600 (or 0400)" % text
    if not value & stat.S_IRUSR:
        return None, "%s does not let its owner read it: give 0600 (or 0400)" % text
    return value, None


def validate(p):
    problems = Problems("tenant_kubeconfig")
    problems.label_name("name", p.get("name"))
    for key in ("tenant", "namespace"):
        if p.get(key) is not None:
            problems.label_name(key, p[key])
    if not p.get("tenant") and not p.get("namespace"):
        problems.add("tenant", "give the cluster's tenant (namespace tenant-<tenant>) or its namespace")
    if p.get("wait_timeout") is not None and p["wait_timeout"] < 1:
        problems.add("wait_timeout", "%s: give the seconds to wait, at least 1" % p["wait_timeout"])
    mode, why = parse_mode(p.get("mode"))
    if why:
        problems.add("mode", why)
    problems.raise_if_any()
    return mode


def decode(secret):
    """The kubeconfig text of Cluster API's Secret, and its server URL."""
    where = ident("Secret", secret["metadata"]["name"], secret["metadata"].get("namespace"))
    raw = (secret.get("data") or {}).get("value")
    if not raw:
        raise KmetalError("has no key value: it is not a Cluster API kubeconfig Secret", obj=where)
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8")
        doc = yaml.safe_load(text)
        server = doc["clusters"][0]["cluster"]["server"]
    except (binascii.Error, UnicodeDecodeError, yaml.YAMLError, KeyError, IndexError, TypeError) as err:
        raise KmetalError("its value is not a kubeconfig (%s)" % type(err).__name__, obj=where)
    return text, server


def current(path):
    """(sha256, mode) of the file at PATH, or (None, None) when there is none."""
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        return digest, stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None, None


def write(path, text, mode):
    """Write atomically: a temporary file created with MODE in the same directory, renamed over PATH, so that no
    reader ever sees a partial file or a moment with looser permissions."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".kubeconfig-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# What the kubeconfig's user must be allowed before the tenant counts as answering: Kamaji's admin kubeconfig is in
# kubeadm:cluster-admins, whose binding the control plane's bootstrap creates a moment after the API first answers.
ACCESS_REVIEW = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                 "spec": {"resourceAttributes": {"verb": "list", "resource": "namespaces"}}}


def probe(path, timeout, request_timeout, sleep=time.sleep):
    """The tenant API's version, asked with the fetched kubeconfig (its CA verifies the server), once that
    kubeconfig's user may also list namespaces there: the proof that the API behind the kubeconfig answers and its
    admin can use it. Waits up to TIMEOUT seconds (a new VIP can take a moment to answer, its RBAC to be bootstrapped)."""
    deadline = time.monotonic() + timeout
    tenant = Client({"kubeconfig": path, "request_timeout": request_timeout}, sleep=sleep)
    try:
        while True:
            try:
                _status, body = tenant.request("GET", "/version", what="the tenant API's version")
                _status, review = tenant.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=ACCESS_REVIEW,
                                                 what="the kubeconfig user's access")
                if (review.get("status") or {}).get("allowed"):
                    return body.get("gitVersion")
                reason = ("it answers (%s), but this kubeconfig's user may not list namespaces there (yet: a new control plane "
                          "bootstraps its RBAC after its API is up)" % body.get("gitVersion"))
            except KmetalError as err:
                reason = str(err)
            if time.monotonic() + 1.0 > deadline:
                raise KmetalError("the tenant API at %s does not answer with this kubeconfig after %ss: %s" % (tenant.host, timeout, reason),
                                  obj=path)
            sleep(1.0)
    finally:
        tenant.close()


def cluster_sleeps(client, name, namespace):
    """Whether the Cluster NAME is put to sleep (its control plane at 0 replicas); False when it cannot be read (a
    kubeconfig Secret that no Cluster API Cluster owns is still probed)."""
    try:
        return sleeping(client.get("Cluster", name, namespace))
    except KmetalError:
        return False


def fetch(module, connect):
    p = module.params
    mode = validate(p)
    namespace = tenant_namespace(p["tenant"], p.get("namespace"))
    name = secret_name(p["name"])
    client = connect()
    if p["wait"]:
        secret = client.wait("Secret", name, namespace, lambda obj: obj is not None and (obj.get("data") or {}).get("value"),
                             p["wait_timeout"], "the control plane's kubeconfig (Cluster API writes it once the API answers)")
    else:
        secret = client.get("Secret", name, namespace)
        if secret is None:
            raise KmetalError("does not exist yet: the control plane is not up; run again with wait: true, or later",
                              obj=ident("Secret", name, namespace))
    text, server = decode(secret)
    want = hashlib.sha256(text.encode("utf-8")).hexdigest()
    have, have_mode = current(p["dest"])
    changed = have != want or have_mode != mode
    if changed and not module.check_mode:
        write(p["dest"], text, mode)
    result = {"changed": changed, "dest": p["dest"], "server": server, "secret": "%s/%s" % (namespace, name), "mode": "%04o" % mode}
    if p["probe"]:
        # a sleeping control plane (replicas 0, by sleep: true or kept asleep) has no API to ask: said, not waited for
        result["sleeping"] = cluster_sleeps(client, p["name"], namespace)
        if not result["sleeping"] and not (module.check_mode and changed):  # in check mode an unwritten file cannot be read
            result["version"] = probe(p["dest"], p["wait_timeout"] if p["wait"] else 1, p.get("request_timeout") or 20.0)
    if module._diff:
        result["diff"] = {"before": "" if have is None else "sha256: %s\nmode: %04o\n" % (have, have_mode),
                          "after": "sha256: %s\nmode: %04o\n" % (want, mode), "before_header": p["dest"], "after_header": p["dest"]}
    return result
