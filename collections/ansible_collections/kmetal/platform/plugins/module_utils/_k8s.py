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
import ipaddress
import json
import os
import random
import re
import tempfile
import time
from urllib.parse import quote, unquote, urlencode, urlsplit

try:
    import urllib3
    import yaml
    HAS_HTTP_YAML = True
    HTTP_YAML_IMPORT_ERROR = None
except ImportError as _err:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_HTTP_YAML = False
    HTTP_YAML_IMPORT_ERROR = _err

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
    Kind("Secret", "v1", "secrets", True),
    Kind("ResourceQuota", "v1", "resourcequotas", True),
    Kind("LimitRange", "v1", "limitranges", True),
    Kind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", True),
    Kind("Vpc", "kubeovn.io/v1", "vpcs", False),
    Kind("Subnet", "kubeovn.io/v1", "subnets", False),
    Kind("Vlan", "kubeovn.io/v1", "vlans", False),
    Kind("IP", "kubeovn.io/v1", "ips", False),
    Kind("Cluster", "cluster.x-k8s.io/v1beta2", "clusters", True),
    Kind("ClusterClass", "cluster.x-k8s.io/v1beta2", "clusterclasses", True),
    Kind("KamajiControlPlane", "controlplane.cluster.x-k8s.io/v1alpha1", "kamajicontrolplanes", True),
    Kind("TenantControlPlane", "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes", True),
    Kind("DataStore", "kamaji.clastix.io/v1alpha1", "datastores", False),
    Kind("Profile", "config.projectsveltos.io/v1beta1", "profiles", True),
    Kind("ClusterProfile", "config.projectsveltos.io/v1beta1", "clusterprofiles", False),
    # what the platform's install waits for and reports on (workloads_ready)
    Kind("Pod", "v1", "pods", True),
    Kind("Event", "v1", "events", True),
    Kind("Deployment", "apps/v1", "deployments", True),
    Kind("StatefulSet", "apps/v1", "statefulsets", True),
    Kind("DaemonSet", "apps/v1", "daemonsets", True),
    Kind("Job", "batch/v1", "jobs", True),
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


# Where a pod's service account is mounted; a module attribute so that tests can point it at a directory of their own.
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _data_file(b64, suffix):
    """A new private (0600) temporary file holding base64 DATA, removed at exit: urllib3 takes client certificates
    only as files, and every client gets files of its own, so two clients never overwrite each other's."""
    fd, path = tempfile.mkstemp(prefix="kmetal-k8s-", suffix=suffix)
    atexit.register(_remove, path)
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
    several files merged, first wins; or ~/.kube/config). Static kubeconfigs (certificates, tokens) are read as plain
    YAML; exec and auth-provider users are handed to the kubernetes library, slow to import, whose settings are
    then all taken over."""
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
    if user.get("exec") or user.get("auth-provider"):
        how = "exec" if user.get("exec") else "auth-provider"
        return dict(_library_settings(files[0] if path else None, ctx_name, how), auth_source="the kubeconfig's %s credentials" % how)

    def rel(entry, key):
        value = entry.get(key)
        return os.path.join(entry["_base"], value) if value and not os.path.isabs(value) else value

    out = {"host": cluster.get("server"), "verify": not cluster.get("insecure-skip-tls-verify", False),
           "proxy": cluster.get("proxy-url"), "tls_server_name": cluster.get("tls-server-name"), "temp_files": []}
    if out["proxy"]:
        out["proxy_source"] = "kubeconfig (proxy-url of cluster %s)" % ctx.get("cluster")
    if cluster.get("certificate-authority-data"):
        out["ca_data"] = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii")
    elif cluster.get("certificate-authority"):
        out["ca_file"] = rel(cluster, "certificate-authority")
    for key, field, suffix in (("cert_file", "client-certificate", ".crt"), ("key_file", "client-key", ".key")):
        if user.get(field + "-data"):
            out[key] = _data_file(user[field + "-data"], suffix)
            out["temp_files"].append(out[key])
        elif user.get(field):
            out[key] = rel(user, field)
    if user.get("token"):
        out["token"] = user["token"]
    elif user.get("tokenFile"):
        with open(rel(user, "tokenFile")) as handle:
            out["token"] = handle.read().strip()
    if user.get("username") or user.get("password"):
        out["basic_auth_user"] = ctx.get("user")
    out["auth_source"] = "the kubeconfig's user %s" % ctx.get("user")
    return out


class _LogCapture(object):
    """The kubernetes library logs exec-plugin failures (logging.error) instead of raising: catch them to say why."""

    def __init__(self):
        import logging
        self.logging = logging
        self.messages = []
        self.handler = logging.Handler(logging.ERROR)
        self.handler.emit = lambda record: self.messages.append(record.getMessage())

    def __enter__(self):
        self.logging.getLogger().addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc):
        self.logging.getLogger().removeHandler(self.handler)


def _library():
    try:
        from kubernetes import config as kube_config
        from kubernetes.client import Configuration
    except ImportError as err:
        raise KmetalError("exec, auth-provider and in-cluster credentials need the kubernetes Python library on the controller: %s" % err,
                          field="kubeconfig")
    return kube_config, Configuration


def _library_settings(path, context, how):
    """Exec and auth-provider users through the kubernetes library's own loader; every setting it makes (token or
    client certificate, CA, verify, proxy, host) is taken over, not only the token."""
    kube_config, Configuration = _library()
    cfg = Configuration()
    with _LogCapture() as log:
        try:
            kube_config.load_kube_config(config_file=path, context=context, client_configuration=cfg, persist_config=False)
        except Exception as err:  # the loader raises several types (ConfigException, OSError, plugin failures)
            raise KmetalError("cannot get %s credentials from the kubeconfig: %s" % (how, err), field="kubeconfig")
    out = library_config_settings(cfg)
    if not out.get("auth_hook") and not out.get("cert_file"):
        raise KmetalError("the kubeconfig's %s credentials gave neither a token nor a client certificate%s" % (how, ": " + "; ".join(log) if log else ""),
                          field="kubeconfig")
    return out


def library_config_settings(cfg):
    """Connection settings from a kubernetes.client.Configuration the library's loaders filled in."""
    out = {"host": cfg.host, "verify": bool(cfg.verify_ssl), "temp_files": []}
    for attr, key in (("ssl_ca_cert", "ca_file"), ("cert_file", "cert_file"), ("key_file", "key_file"),
                      ("tls_server_name", "tls_server_name"), ("proxy", "proxy"), ("no_proxy", "no_proxy")):
        if getattr(cfg, attr, None):
            out[key] = getattr(cfg, attr)
    if out.get("proxy"):
        out["proxy_source"] = "kubeconfig (proxy-url)"
    if getattr(cfg, "proxy_headers", None):
        out["proxy_headers"] = dict(cfg.proxy_headers)
    if cfg.api_key or cfg.refresh_api_key_hook:
        def auth():
            # the library's refresh hook runs inside get_api_key_with_prefix: expired exec tokens are renewed here
            value = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
            if value and " " not in value:
                value = "Bearer " + value
            elif value and value[:7].lower() == "bearer ":
                value = "Bearer " + value[7:]  # the in-cluster loader writes 'bearer'
            return value or None
        if auth():
            out["auth_hook"] = auth
    if getattr(cfg, "username", None) or getattr(cfg, "password", None):
        out["basic_auth_user"] = cfg.username or "?"
    return out


def in_cluster_settings(sa_dir=None, environ=None):
    """The pod's service account (AWX runs jobs in pods): the library's in-cluster loader, which also re-reads the
    rotated token."""
    _kube_config, Configuration = _library()
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    sa_dir = sa_dir or SERVICE_ACCOUNT_DIR
    cfg = Configuration()
    try:
        InClusterConfigLoader(token_filename=os.path.join(sa_dir, "token"), cert_filename=os.path.join(sa_dir, "ca.crt"),
                              environ=os.environ if environ is None else environ).load_and_set(cfg)
    except ConfigException as err:
        raise KmetalError("cannot use the in-cluster service account (%s): %s" % (sa_dir, err), field="kubeconfig")
    return dict(library_config_settings(cfg), auth_source="the pod's service account (%s)" % sa_dir)


def _in_cluster(params):
    """In a pod with no kubeconfig anywhere and no host given: use the service account, as kubectl does."""
    if params.get("kubeconfig") or params.get("host") or params.get("context"):
        return False
    if not os.environ.get("KUBERNETES_SERVICE_HOST") or os.environ.get("KUBECONFIG"):
        return False
    return not os.path.exists(os.path.expanduser("~/.kube/config"))


def connection_settings(params):
    """Where the API server is and how to authenticate: the kubeconfig (unless only host is given; the pod's service
    account when there is no kubeconfig in a pod), then the explicit options over it, as kubernetes.core does."""
    cfg = {"verify": True, "temp_files": []}
    if _in_cluster(params):
        cfg = in_cluster_settings()
    elif params.get("kubeconfig") or not params.get("host"):
        cfg = read_kubeconfig(params.get("kubeconfig"), params.get("context"))
    if params.get("host"):
        cfg["host"] = params["host"]
    if params.get("api_key"):
        cfg["token"], cfg["auth_hook"], cfg["auth_source"] = params["api_key"], None, "api_key"
    if params.get("client_cert"):
        cfg["auth_source"] = "client_cert" if not params.get("api_key") else "api_key and client_cert"
    for option, key in (("ca_cert", "ca_file"), ("client_cert", "cert_file"), ("client_key", "key_file"), ("proxy", "proxy")):
        if params.get(option):
            cfg[key] = params[option]
    if params.get("proxy"):
        cfg["proxy_source"], cfg["proxy_headers"] = "proxy", None
    if params.get("ca_cert"):
        cfg.pop("ca_data", None)
    if params.get("validate_certs") is not None:
        cfg["verify"] = params["validate_certs"]
    host = cfg.get("host")
    if not host or not str(host).startswith(("https://", "http://")):
        raise KmetalError("the API server address %r is not a URL; give host as https://HOST:PORT" % (host,), field="host")
    if cfg.get("basic_auth_user") and not (cfg.get("token") or cfg.get("auth_hook") or cfg.get("cert_file")):
        raise KmetalError("the kubeconfig user %r authenticates with username and password (basic auth), which Kubernetes removed in 1.19 "
                          "and this collection does not send; use a client certificate, a token (api_key) or an exec plugin" % cfg["basic_auth_user"],
                          field="kubeconfig")
    if not cfg.get("proxy"):
        cfg["proxy"], cfg["proxy_source"] = environment_proxy(host)
    return cfg


def environment_proxy(url, environ=None):
    """(proxy URL, the variable it came from) for URL from HTTPS_PROXY/HTTP_PROXY (either case), unless NO_PROXY
    matches; (None, None) otherwise. Only used when neither the proxy option nor the kubeconfig's proxy-url is set,
    which is client-go's order."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    names = ("HTTPS_PROXY", "https_proxy") if parts.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    for name in names:
        if environ.get(name):
            no_proxy = environ.get("NO_PROXY", environ.get("no_proxy", ""))
            if no_proxy_matches(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), no_proxy):
                return None, None
            return environ[name], name
    return None, None


def no_proxy_matches(host, port, no_proxy):
    """Whether NO_PROXY (comma-separated) exempts HOST:PORT, with client-go's rules: '*'; an IP; a CIDR holding the
    IP; a domain, matching itself and its subdomains; '.domain' or '*.domain', subdomains only; any entry may
    carry ':port'."""
    host = (host or "").lower().strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (no_proxy or "").lower().split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, want_port = entry, None
        bracketed = re.match(r"^\[([^\]]+)\](?::(\d+))?$", entry)
        if bracketed:
            name, want_port = bracketed.group(1), bracketed.group(2)
        elif entry.count(":") == 1:
            name, want_port = entry.split(":")
        if want_port and int(want_port) != port:
            continue
        if ip is not None:
            try:
                if ipaddress.ip_address(name) == ip:
                    return True
            except ValueError:
                pass
            continue
        if name.startswith("*."):
            name = name[1:]
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name or host.endswith("." + name):
            return True
    return False


def _pool_manager(proxy, source, proxy_headers, pool_args):
    """A PoolManager, or a proxy manager for PROXY: http(s) proxies with their credentials sent as
    Proxy-Authorization on CONNECT; socks4/5 through urllib3.contrib.socks when PySocks is installed."""
    if not proxy:
        return urllib3.PoolManager(**pool_args)
    parsed = urllib3.util.parse_url(proxy)
    field = "proxy" if source == "proxy" else None
    where = "the proxy %s (from %s)" % (_redact(parsed), source or "proxy")
    scheme = (parsed.scheme or "").lower()
    if scheme.startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager
        except ImportError:
            raise KmetalError("%s is a SOCKS proxy, which needs the PySocks Python library on the controller (pip install PySocks); "
                              "or give an http:// proxy" % where, field=field)
        if scheme not in ("socks4", "socks4a", "socks5", "socks5h"):
            raise KmetalError("%s has the scheme %s; use socks5, socks5h, socks4 or socks4a" % (where, scheme), field=field)
        return SOCKSProxyManager(proxy, **pool_args)
    if scheme not in ("http", "https"):
        raise KmetalError("%s has the scheme %r; give http://[USER:PASSWORD@]HOST:PORT, https://... or socks5://..." % (where, scheme or ""), field=field)
    headers = dict(proxy_headers or {})
    if parsed.auth:
        headers.update(urllib3.make_headers(proxy_basic_auth=unquote(parsed.auth)))
    bare = parsed._replace(auth=None).url
    return urllib3.ProxyManager(bare, proxy_headers=headers or None, **pool_args)


def _describe_credentials(cfg):
    """What the client authenticates with, for the 401 message (no secret in it); None when nothing."""
    kinds = []
    if cfg.get("token") or cfg.get("auth_hook"):
        kinds.append("a bearer token")
    if cfg.get("cert_file"):
        kinds.append("the client certificate %s" % ("(from a temporary file)" if cfg["cert_file"] in (cfg.get("temp_files") or ()) else cfg["cert_file"]))
    if not kinds:
        return None
    return "sent %s from %s" % (" and ".join(kinds), cfg.get("auth_source") or "the options")


def _redact(parsed):
    return parsed._replace(auth="***" if parsed.auth else None).url


class Client(object):
    """A connection to one API server; every request goes through request(), which retries what is worth retrying."""

    def __init__(self, params, sleep=time.sleep, max_attempts=5):
        if not HAS_HTTP_YAML:
            raise KmetalError("the urllib3 and PyYAML Python libraries are required on the controller: %s" % HTTP_YAML_IMPORT_ERROR)
        self.timeout = float(params.get("request_timeout") or 20.0)
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.requests = 0
        cfg = connection_settings(params)
        self.settings = cfg
        self.host = cfg["host"].rstrip("/")
        self._token = cfg.get("token")
        self._auth_hook = cfg.get("auth_hook")
        self._temp_files = list(cfg.get("temp_files") or ())
        self.credentials = _describe_credentials(cfg)
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
        self.proxy = cfg.get("proxy")
        if self.proxy and cfg.get("no_proxy") and no_proxy_matches(urlsplit(self.host).hostname, urlsplit(self.host).port, cfg["no_proxy"]):
            self.proxy = None
        self.pool = _pool_manager(self.proxy, cfg.get("proxy_source"), cfg.get("proxy_headers"), pool_args)

    def close(self):
        """Drop the connections and this client's certificate files now (they also go at exit)."""
        self.pool.clear()
        for path in self._temp_files:
            _remove(path)
        self._temp_files = []

    def _headers(self, content_type=None):
        headers = {"Accept": "application/json", "User-Agent": "kmetal.platform"}
        auth = self._auth_hook() if self._auth_hook else ("Bearer " + self._token if self._token else None)
        if auth:
            headers["Authorization"] = auth
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _retry(self):
        """urllib3's Retry counts attempts, decides what is retryable and computes backoff and Retry-After; the
        loop in request() adds the one thing it lacks, an overall deadline (request_timeout)."""
        return urllib3.util.Retry(total=self.max_attempts - 1, redirect=0, allowed_methods=None, status_forcelist=RETRY_STATUS,
                                  backoff_factor=0.125, backoff_max=4.0, respect_retry_after_header=True, raise_on_status=False)

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
        retry = self._retry()
        what = what or "%s %s" % (method, path)
        while True:
            remaining = deadline - time.monotonic()
            timeout = urllib3.Timeout(connect=min(5.0, max(remaining, 0.5)), read=max(remaining, 0.5))
            try:
                self.requests += 1
                resp = self.pool.request(method, url, body=payload, headers=self._headers(content_type), timeout=timeout, redirect=False)
            except urllib3.exceptions.SSLError as err:
                raise KmetalError("TLS failed talking to the API server at %s: %s; check ca_cert/validate_certs" % (self.host, err), obj=what)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                reason = getattr(err, "reason", None) or err
                if self.proxy and isinstance(err, urllib3.exceptions.ProxyError) and "Tunnel connection failed" in str(reason):
                    # the proxy answered CONNECT with an error (407, 403, 502): retrying does not change its mind
                    raise KmetalError("the proxy %s refused the tunnel to %s: %s; check the proxy, its credentials and NO_PROXY"
                                      % (_redact(urllib3.util.parse_url(self.proxy)), self.host, reason), obj=what)
                attempts = len(retry.history) + 1
                try:
                    retry = retry.increment(method, url, error=err)
                except Exception:  # MaxRetryError, or the error itself when it is not retryable
                    retry = None
                if retry is not None and deadline - time.monotonic() > 0.2:
                    self._pause(retry.get_backoff_time(), deadline)
                    continue
                via = " through the proxy %s" % _redact(urllib3.util.parse_url(self.proxy)) if self.proxy else ""
                raise KmetalError("cannot reach the Kubernetes API at %s%s after %d attempts within %.0fs: %s"
                                  % (self.host, via, attempts, self.timeout, reason), obj=what)
            status = resp.status
            if retry.is_retry(method, status, "Retry-After" in (resp.headers or {})) and deadline - time.monotonic() > 0.2:
                try:
                    retry = retry.increment(method, url)
                except urllib3.exceptions.MaxRetryError:
                    pass
                else:
                    after = retry.get_retry_after(resp) if status in retry.RETRY_AFTER_STATUS_CODES else None
                    self._pause(max(after or 0.0, retry.get_backoff_time()), deadline, jitter=after is None)
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
                if self.credentials is None:
                    raise KmetalError("the API server wants credentials (401 Unauthorized) and none were sent: give a kubeconfig whose user has "
                                      "a client certificate, a token or an exec plugin, or client_cert/client_key or api_key", obj=what, status=status)
                raise KmetalError("the API server refused the credentials (401 Unauthorized): %s; check that they are valid for this server "
                                  "(not expired, issued by its CA or its token issuer)" % self.credentials, obj=what, status=status)
            if status == 403:
                raise KmetalError("forbidden: the credentials lack the RBAC permission", obj=what, reason=_server_reason(resp.data, "Forbidden"), status=status)
            raise KmetalError("the API server answered %d" % status, obj=what, reason=_server_reason(resp.data, resp.reason), status=status,
                              causes=(data or {}).get("details", {}).get("causes") if isinstance(data, dict) else None)

    def _pause(self, delay, deadline, jitter=True):
        """Sleep DELAY (with jitter, so that many clients do not retry in step), never past the deadline."""
        if jitter:
            delay *= 0.5 + random.random() / 2
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
