# -*- coding: utf-8 -*-
# Copyright (c) kMetal platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one Kubernetes layer of the collection's modules: auth, fixed resource paths (no discovery), requests with
retries, server-side apply, delete, list, wait, and the KmetalError every failure becomes.

Private to the collection (the leading underscore): modules import it, users do not.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import random
import shutil
import tempfile
import time
from urllib.parse import quote, urlencode

try:
    import urllib3
    import yaml
    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError as _err:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_K8S = False
    K8S_IMPORT_ERROR = _err

FIELD_MANAGER = "kmetal-platform"
TENANT_LABEL = "kmetal.io/tenant"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kmetal-platform"}

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
VOLATILE_METADATA = ("resourceVersion", "generation", "managedFields", "creationTimestamp", "uid", "selfLink",
                     "deletionTimestamp", "deletionGracePeriodSeconds")


class KmetalError(Exception):
    """The one exception of the collection: what failed, on which object and field, and the server's reason."""

    def __init__(self, msg, obj=None, field=None, reason=None, status=None, **details):
        self.obj = obj
        self.field = field
        self.reason = reason
        self.status = status
        self.details = details
        parts = []
        if obj:
            parts.append(obj + ":")
        if field:
            parts.append(field + ":")
        parts.append(msg)
        if reason:
            parts.append("(server said: %s)" % reason)
        super().__init__(" ".join(parts))


class Kind(object):
    """A resource the collection manages, with its fixed REST path: the kinds are known, so no discovery."""

    def __init__(self, kind, api_version, plural, namespaced):
        self.kind = kind
        self.api_version = api_version
        self.plural = plural
        self.namespaced = namespaced

    def path(self, name=None, namespace=None):
        base = "/api/v1" if self.api_version == "v1" else "/apis/" + self.api_version
        if self.namespaced and namespace:
            base += "/namespaces/" + quote(namespace, safe="")
        base += "/" + self.plural
        if name:
            base += "/" + quote(name, safe="")
        return base


KINDS = {k.kind: k for k in (
    Kind("Namespace", "v1", "namespaces", False),
    Kind("ResourceQuota", "v1", "resourcequotas", True),
    Kind("LimitRange", "v1", "limitranges", True),
    Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True),
    Kind("Vpc", "kubeovn.io/v1", "vpcs", False),
    Kind("Subnet", "kubeovn.io/v1", "subnets", False),
    Kind("Vlan", "kubeovn.io/v1", "vlans", False),
    Kind("IP", "kubeovn.io/v1", "ips", False),
    Kind("Cluster", "cluster.x-k8s.io/v1beta2", "clusters", True),
    Kind("ClusterClass", "cluster.x-k8s.io/v1beta2", "clusterclasses", True),
)}


def ident(kind, name, namespace=None):
    """How messages name an object: Kind namespace/name."""
    return "%s %s" % (kind, "%s/%s" % (namespace, name) if namespace else name)


def obj_ident(obj):
    meta = obj.get("metadata", {})
    return ident(obj.get("kind", "?"), meta.get("name", "?"), meta.get("namespace"))


def _server_reason(data, default):
    try:
        body = json.loads(data)
    except (ValueError, TypeError):
        text = (data or b"").decode("utf-8", "replace").strip() if isinstance(data, bytes) else str(data or "")
        return text[:500] or default
    return body.get("message") or body.get("reason") or default


_TMPDIR = []


def _data_file(b64, name):
    """A private temporary file holding base64 DATA (urllib3 takes client certificates as files), removed at exit."""
    if not _TMPDIR:
        _TMPDIR.append(tempfile.mkdtemp(prefix="kmetal-k8s-"))
        atexit.register(shutil.rmtree, _TMPDIR[0], True)
    path = os.path.join(_TMPDIR[0], name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64decode(b64))
    return path


def _kubeconfig_paths(path):
    if path:
        return [os.path.expanduser(path)]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def read_kubeconfig(path=None, context=None):
    """The server and credentials of CONTEXT (default: current-context) in the kubeconfig at PATH (or $KUBECONFIG,
    several files merged, first wins; or ~/.kube/config). Plain YAML reading: the kubernetes library, slow to import,
    is only used for exec and auth-provider credentials."""
    merged = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    files = _kubeconfig_paths(path)
    for name in files:
        try:
            with open(name) as handle:
                doc = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as err:
            if path or len(files) == 1:
                raise KmetalError("cannot read the kubeconfig %s: %s" % (name, err), field="kubeconfig")
            continue
        base = os.path.dirname(os.path.abspath(name))
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                if entry.get("name") not in merged[section]:
                    body = dict(entry.get(key) or {})
                    body["_base"] = base
                    merged[section][entry.get("name")] = body
        merged["current-context"] = merged["current-context"] or doc.get("current-context")
    ctx_name = context or merged["current-context"]
    ctx = merged["contexts"].get(ctx_name)
    if ctx is None:
        raise KmetalError("the kubeconfig %s has no context %r (it has: %s)" % (", ".join(files), ctx_name, ", ".join(sorted(merged["contexts"])) or "none"),
                          field="context" if context else "kubeconfig")
    cluster = merged["clusters"].get(ctx.get("cluster"))
    if cluster is None:
        raise KmetalError("context %r names cluster %r, which the kubeconfig does not define" % (ctx_name, ctx.get("cluster")), field="kubeconfig")
    user = merged["users"].get(ctx.get("user")) or {}

    def rel(entry, key):
        value = entry.get(key)
        return os.path.join(entry["_base"], value) if value and not os.path.isabs(value) else value

    out = {"host": cluster.get("server"), "verify": not cluster.get("insecure-skip-tls-verify", False),
           "proxy": cluster.get("proxy-url"), "tls_server_name": cluster.get("tls-server-name")}
    if cluster.get("certificate-authority-data"):
        out["ca_data"] = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii")
    elif cluster.get("certificate-authority"):
        out["ca_file"] = rel(cluster, "certificate-authority")
    if user.get("client-certificate-data"):
        out["cert_file"] = _data_file(user["client-certificate-data"], "client.crt")
    elif user.get("client-certificate"):
        out["cert_file"] = rel(user, "client-certificate")
    if user.get("client-key-data"):
        out["key_file"] = _data_file(user["client-key-data"], "client.key")
    elif user.get("client-key"):
        out["key_file"] = rel(user, "client-key")
    if user.get("token"):
        out["token"] = user["token"]
    elif user.get("tokenFile"):
        with open(rel(user, "tokenFile")) as handle:
            out["token"] = handle.read().strip()
    elif user.get("exec") or user.get("auth-provider"):
        out["token_hook"] = _library_token(files[0] if path else None, ctx_name)
    return out


def _library_token(path, context):
    """Exec and auth-provider credentials through the kubernetes library (imported only for them)."""
    try:
        from kubernetes import config as kube_config
        from kubernetes.client import Configuration
    except ImportError as err:
        raise KmetalError("the kubeconfig uses exec or auth-provider credentials, which need the kubernetes Python library: %s" % err, field="kubeconfig")
    cfg = Configuration()
    try:
        kube_config.load_kube_config(config_file=path, context=context, client_configuration=cfg, persist_config=False)
    except Exception as err:  # the loader raises several types (ConfigException, OSError, plugin failures)
        raise KmetalError("cannot get credentials from the kubeconfig: %s" % err, field="kubeconfig")

    def token():
        value = cfg.get_api_key_with_prefix("authorization") or ""
        return value[len("Bearer "):] if value.startswith("Bearer ") else value or None

    return token


def connection_settings(params):
    """Where the API server is and how to authenticate: the kubeconfig (unless only host is given), then the
    explicit options over it, as kubernetes.core does."""
    cfg = {"verify": True}
    if params.get("kubeconfig") or not params.get("host"):
        cfg = read_kubeconfig(params.get("kubeconfig"), params.get("context"))
    if params.get("host"):
        cfg["host"] = params["host"]
    if params.get("api_key"):
        cfg["token"], cfg["token_hook"] = params["api_key"], None
    for option, key in (("ca_cert", "ca_file"), ("client_cert", "cert_file"), ("client_key", "key_file"), ("proxy", "proxy")):
        if params.get(option):
            cfg[key] = params[option]
    if params.get("ca_cert"):
        cfg.pop("ca_data", None)
    if params.get("validate_certs") is not None:
        cfg["verify"] = params["validate_certs"]
    host = cfg.get("host")
    if not host or not str(host).startswith(("https://", "http://")):
        raise KmetalError("the API server address %r is not a URL; give host as https://HOST:PORT" % (host,), field="host")
    return cfg


class Client(object):
    """A connection to one API server; every request goes through request(), which retries what is worth retrying."""

    def __init__(self, params, sleep=time.sleep, max_attempts=5):
        if not HAS_K8S:
            raise KmetalError("the urllib3 and PyYAML Python libraries are required on the controller: %s" % K8S_IMPORT_ERROR)
        self.timeout = float(params.get("request_timeout") or 20.0)
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.requests = 0
        cfg = connection_settings(params)
        self.host = cfg["host"].rstrip("/")
        self._token = cfg.get("token")
        self._token_hook = cfg.get("token_hook")
        pool_args = {"num_pools": 2, "maxsize": 4, "retries": False}
        if cfg.get("verify", True):
            pool_args["cert_reqs"] = "CERT_REQUIRED"
            if cfg.get("ca_file"):
                pool_args["ca_certs"] = cfg["ca_file"]
            if cfg.get("ca_data"):
                pool_args["ca_cert_data"] = cfg["ca_data"]
            if cfg.get("tls_server_name"):
                pool_args["server_hostname"] = cfg["tls_server_name"]
        else:
            pool_args["cert_reqs"] = "CERT_NONE"
            pool_args["assert_hostname"] = False
            urllib3.disable_warnings()
        if cfg.get("cert_file"):
            pool_args["cert_file"] = cfg["cert_file"]
        if cfg.get("key_file"):
            pool_args["key_file"] = cfg["key_file"]
        if cfg.get("proxy"):
            self.pool = urllib3.ProxyManager(cfg["proxy"], **pool_args)
        else:
            self.pool = urllib3.PoolManager(**pool_args)

    def _headers(self, content_type=None):
        headers = {"Accept": "application/json", "User-Agent": "kmetal.platform"}
        token = self._token_hook() if self._token_hook else self._token
        if token:
            headers["Authorization"] = "Bearer " + token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def request(self, method, path, query=None, body=None, content_type=None, what=None, expect=(200, 201, 202)):
        """One API call, JSON in and out. Returns (status, decoded body); 404 is returned, not raised.

        Retries 429 (honouring Retry-After), 5xx and dropped or refused connections with exponential backoff and
        jitter, within request_timeout on a monotonic clock. A 409 is returned to the caller, which knows whether
        to re-read (an apply whose resourceVersion precondition failed) or to give up.
        """
        url = self.host + path
        if query:
            url += "?" + urlencode(query)
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        deadline = time.monotonic() + self.timeout
        attempt = 0
        what = what or "%s %s" % (method, path)
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            timeout = urllib3.Timeout(connect=min(5.0, max(remaining, 0.5)), read=max(remaining, 0.5))
            try:
                self.requests += 1
                resp = self.pool.request(method, url, body=payload, headers=self._headers(content_type), timeout=timeout, redirect=False)
            except urllib3.exceptions.SSLError as err:
                raise KmetalError("TLS failed talking to the API server at %s: %s; check ca_cert/validate_certs" % (self.host, err), obj=what)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                reason = getattr(err, "reason", None) or err
                if attempt < self.max_attempts and deadline - time.monotonic() > 0.2:
                    self._backoff(attempt, deadline)
                    continue
                raise KmetalError("cannot reach the Kubernetes API at %s after %d attempts within %.0fs: %s"
                                  % (self.host, attempt, self.timeout, reason), obj=what)
            status = resp.status
            if status in RETRY_STATUS and attempt < self.max_attempts and deadline - time.monotonic() > 0.2:
                self._backoff(attempt, deadline, resp.headers.get("Retry-After"))
                continue
            data = None
            if resp.data:
                try:
                    data = json.loads(resp.data)
                except ValueError:
                    data = resp.data.decode("utf-8", "replace")
            if status in expect or status in (404, 409):
                return status, data
            if status == 401:
                raise KmetalError("the API server refused the credentials (401 Unauthorized): check kubeconfig, api_key or client_cert",
                                  obj=what, status=status)
            if status == 403:
                raise KmetalError("forbidden: the credentials lack the RBAC permission", obj=what, reason=_server_reason(resp.data, "Forbidden"), status=status)
            raise KmetalError("the API server answered %d" % status, obj=what, reason=_server_reason(resp.data, resp.reason), status=status,
                              causes=(data or {}).get("details", {}).get("causes") if isinstance(data, dict) else None)

    def _backoff(self, attempt, deadline, retry_after=None):
        delay = min(0.25 * (2 ** (attempt - 1)), 4.0) * (0.5 + random.random() / 2)
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        self.sleep(max(0.0, min(delay, deadline - time.monotonic() - 0.1)))

    # -- reads -------------------------------------------------------------------------------------------------
    def get(self, kind, name, namespace=None):
        k = KINDS[kind]
        status, data = self.request("GET", k.path(name, namespace), what=ident(kind, name, namespace))
        if status == 404:
            if not isinstance(data, dict) or not data.get("details"):
                raise KmetalError("the API server does not serve %s (%s): is its CRD installed?" % (k.plural, k.api_version), obj=ident(kind, name, namespace))
            return None
        return data

    def list(self, kind, namespace=None, label_selector=None, limit=500):
        """Every object of KIND (in NAMESPACE, matching LABEL_SELECTOR), following the continue token."""
        k = KINDS[kind]
        items = []
        query = {"limit": limit}
        if label_selector:
            query["labelSelector"] = label_selector
        while True:
            status, data = self.request("GET", k.path(None, namespace), query=query, what="list %s" % k.plural)
            if status == 404:
                raise KmetalError("the API server does not serve %s (%s): is its CRD installed?" % (k.plural, k.api_version), obj="list %s" % k.plural)
            for item in data.get("items", []):
                item.setdefault("apiVersion", k.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = data.get("metadata", {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    # -- writes ------------------------------------------------------------------------------------------------
    def apply(self, obj, dry_run=False):
        """Server-side apply of OBJ with the collection's field manager. Returns (status, object); a 409 when the
        object carried a resourceVersion precondition that no longer holds."""
        k = KINDS[obj["kind"]]
        meta = obj["metadata"]
        query = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        status, data = self.request("PATCH", k.path(meta["name"], meta.get("namespace")), query=query, body=obj,
                                    content_type="application/apply-patch+yaml", what=obj_ident(obj))
        if status == 404:
            raise KmetalError("cannot apply: the namespace or the kind does not exist", obj=obj_ident(obj), reason=_server_reason(json.dumps(data), "NotFound"))
        return status, data

    def delete(self, kind, name, namespace=None, dry_run=False, resource_version=None, propagation="Background"):
        """Delete an object; returns (status, body). 404 means it was already gone."""
        k = KINDS[kind]
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        if dry_run:
            body["dryRun"] = ["All"]
        query = {"dryRun": "All"} if dry_run else None
        return self.request("DELETE", k.path(name, namespace), query=query, body=body, what=ident(kind, name, namespace))

    def wait(self, kind, name, namespace, predicate, timeout, what, interval=1.0):
        """Poll until PREDICATE(object or None) is true, on a monotonic clock. Returns the last object read."""
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(kind, name, namespace)
            if predicate(obj):
                return obj
            if time.monotonic() + interval > deadline:
                raise KmetalError("timed out after %ss waiting for %s" % (timeout, what), obj=ident(kind, name, namespace),
                                  last_status=(obj or {}).get("status"))
            self.sleep(interval)


def condition(obj, ctype):
    """The status of condition CTYPE on OBJ ('True', 'False', 'Unknown' or None)."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond.get("status")
    return None
