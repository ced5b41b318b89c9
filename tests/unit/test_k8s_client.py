"""The Kubernetes layer's kubeconfig shapes, proxies and certificate files: one test per shape.

Pure-logic tests build the client and look at what it would send; the tests taking `lab_api` (marked lab) send it to
the lab's real kube-apiserver and ask it who we are (SelfSubjectReview) or list namespaces.
"""

import base64
import json
import os
import select
import socket
import stat
import struct
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.kmetal.platform.plugins.module_utils import _k8s  # noqa: E402
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import Client, KmetalError  # noqa: E402

PEM_CERT = b"-----BEGIN CERTIFICATE-----\nMIIBfake%d\n-----END CERTIFICATE-----\n"
PEM_KEY = b"-----BEGIN PRIVATE KEY-----\nMIIEfake%d\n-----END PRIVATE KEY-----\n"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def b64(data):
    return base64.b64encode(data).decode()


def kubeconfig(tmp_path, user, cluster=None, name="config"):
    """A one-context kubeconfig with USER's credentials."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    path.chmod(0o600)
    return path


def exec_plugin(tmp_path, status, api_version="client.authentication.k8s.io/v1beta1", fail=None):
    """An exec credential plugin, a tiny script that prints STATUS as an ExecCredential (or exits 1 with FAIL)."""
    script = tmp_path / "plugin.py"
    if fail:
        body = "import sys\nsys.stderr.write(%r)\nsys.exit(1)\n" % fail
    else:
        body = "import json\nprint(json.dumps(%r))\n" % {"apiVersion": api_version, "kind": "ExecCredential", "status": status}
    script.write_text(body)
    return {"exec": {"apiVersion": api_version, "command": sys.executable, "args": [str(script)], "interactiveMode": "Never"}}


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def auth_header(client):
    return client._headers().get("Authorization")


@pytest.fixture
def no_library(monkeypatch):
    """Fails the test if the kubernetes library is asked: the static shapes stay on the fast path."""
    def refuse(*args, **kwargs):
        raise AssertionError("the kubernetes library was used for a static kubeconfig")
    monkeypatch.setattr(_k8s, "_library", refuse)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No proxy, kubeconfig or in-cluster variables from the caller's environment; HOME without ~/.kube/config."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "KUBECONFIG",
                 "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


# -- static kubeconfigs: the fast path -------------------------------------------------------------------------------

def test_static_client_certificate_goes_to_private_files_of_each_client(tmp_path, no_library, clean_env):
    first = kubeconfig(tmp_path, {"client-certificate-data": b64(PEM_CERT % 1), "client-key-data": b64(PEM_KEY % 1)}, name="one")
    second = kubeconfig(tmp_path, {"client-certificate-data": b64(PEM_CERT % 2), "client-key-data": b64(PEM_KEY % 2)}, name="two")
    a, b = Client({"kubeconfig": str(first)}), Client({"kubeconfig": str(second)})
    files = [(c.pool.connection_pool_kw["cert_file"], c.pool.connection_pool_kw["key_file"]) for c in (a, b)]
    assert len({path for pair in files for path in pair}) == 4, "each client has certificate files of its own"
    for index, (crt, key) in enumerate(files, 1):
        assert Path(crt).read_bytes() == PEM_CERT % index and Path(key).read_bytes() == PEM_KEY % index
        assert mode(crt) == 0o600 and mode(key) == 0o600
    assert auth_header(a) is None
    a.close()
    assert not any(os.path.exists(p) for p in files[0]) and all(os.path.exists(p) for p in files[1])
    b.close()


def test_static_token_is_sent_as_bearer(tmp_path, no_library, clean_env):
    cluster = {"server": "https://h:6443", "certificate-authority-data": b64(b"CA")}
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "static-token"}, cluster))})
    assert auth_header(client) == "Bearer static-token"
    assert client.pool.connection_pool_kw["ca_cert_data"] == "CA" and client.pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"


def test_files_named_by_the_kubeconfig_are_found_beside_it(tmp_path, no_library, clean_env):
    """client-certificate, client-key, certificate-authority and tokenFile as paths relative to the kubeconfig's own
    directory (as kubectl reads them), not to the current directory; tls-server-name goes to the TLS handshake."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "u.crt").write_bytes(PEM_CERT % 5)
    (conf / "u.key").write_bytes(PEM_KEY % 5)
    (conf / "token").write_text("from-a-file\n")
    cluster = {"server": "https://10.0.0.1:6443", "certificate-authority": "ca.crt", "tls-server-name": "api.internal"}
    path = kubeconfig(conf, {"client-certificate": "u.crt", "client-key": "u.key", "tokenFile": "token"}, cluster)
    client = Client({"kubeconfig": str(path)})
    kw = client.pool.connection_pool_kw
    assert (kw["cert_file"], kw["key_file"], kw["ca_certs"]) == (str(conf / "u.crt"), str(conf / "u.key"), str(conf / "ca.crt"))
    assert kw["server_hostname"] == "api.internal" and auth_header(client) == "Bearer from-a-file"
    client.close()
    assert (conf / "u.crt").exists() and (conf / "u.key").exists(), "the user's own files are never removed"


def test_kubeconfig_variable_merges_several_files_first_wins(tmp_path, no_library, clean_env, monkeypatch):
    first = kubeconfig(tmp_path, {"token": "first"}, {"server": "https://first:6443"}, name="first")
    second = tmp_path / "second"
    second.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "c", "cluster": {"server": "https://second:6443"}}, {"name": "o", "cluster": {"server": "https://other:6443"}}],
        "users": [{"name": "u", "user": {"token": "second"}}],
        "contexts": [{"name": "other", "context": {"cluster": "o", "user": "u"}}]}))
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)]))
    client = Client({})
    assert client.host == "https://first:6443" and auth_header(client) == "Bearer first", "the first file's current-context and entries win"
    other = Client({"context": "other"})
    assert other.host == "https://other:6443" and auth_header(other) == "Bearer first", "a context from the second file, the user from the first"


def test_username_and_password_are_refused_naming_the_user(tmp_path, clean_env):
    path = kubeconfig(tmp_path, {"username": "admin", "password": "secret"})
    with pytest.raises(KmetalError, match=r"kubeconfig: the kubeconfig user 'u' authenticates with username and password .*removed in 1.19"):
        Client({"kubeconfig": str(path)})
    # an explicit token makes the basic-auth user irrelevant: nothing refused
    assert auth_header(Client({"kubeconfig": str(path), "api_key": "t"})) == "Bearer t"


# -- exec and auth-provider: handed over to the kubernetes library -------------------------------------------------

def test_exec_plugin_token_is_sent(tmp_path, clean_env):
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, exec_plugin(tmp_path, {"token": "from-exec"})))})
    assert auth_header(client) == "Bearer from-exec"


def test_exec_plugin_client_certificate_is_used_not_dropped(tmp_path, clean_env):
    user = exec_plugin(tmp_path, {"clientCertificateData": (PEM_CERT % 7).decode(), "clientKeyData": (PEM_KEY % 7).decode()})
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, user, {"server": "https://h:6443", "certificate-authority-data": b64(b"CA")}))})
    kw = client.pool.connection_pool_kw
    assert Path(kw["cert_file"]).read_bytes() == PEM_CERT % 7 and Path(kw["key_file"]).read_bytes() == PEM_KEY % 7
    assert mode(kw["cert_file"]) == 0o600 and mode(kw["key_file"]) == 0o600
    assert Path(kw["ca_certs"]).read_bytes() == b"CA", "the library's CA is taken over too"
    assert auth_header(client) is None


def test_failing_exec_plugin_says_why(tmp_path, clean_env):
    path = kubeconfig(tmp_path, exec_plugin(tmp_path, None, fail="login expired, run sso-login"))
    with pytest.raises(KmetalError, match=r"exec credentials gave neither a token nor a client certificate: .*login expired, run sso-login"):
        Client({"kubeconfig": str(path)})


def jwt(claims):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return "%s.%s.%s" % (part({"alg": "none"}), part(claims), "c2ln")


def test_auth_provider_oidc_is_handed_over_and_its_token_used(tmp_path, clean_env):
    token = jwt({"sub": "alice", "exp": int(time.time()) + 3600})
    user = {"auth-provider": {"name": "oidc", "config": {"id-token": token, "client-id": "k", "idp-issuer-url": "https://127.0.0.1:1"}}}
    assert auth_header(Client({"kubeconfig": str(kubeconfig(tmp_path, user))})) == "Bearer " + token


def test_auth_provider_gcp_with_a_valid_access_token_is_used(tmp_path, clean_env):
    user = {"auth-provider": {"name": "gcp", "config": {"access-token": "ya29.x", "expiry": "2099-01-01T00:00:00Z"}}}
    assert auth_header(Client({"kubeconfig": str(kubeconfig(tmp_path, user))})) == "Bearer ya29.x"


def test_auth_provider_the_library_does_not_know_is_a_clear_error(tmp_path, clean_env):
    with pytest.raises(KmetalError, match="auth-provider credentials gave neither a token nor a client certificate"):
        Client({"kubeconfig": str(kubeconfig(tmp_path, {"auth-provider": {"name": "azure", "config": {}}}))})


# -- in-cluster -------------------------------------------------------------------------------------------------------

def service_account(tmp_path, token="sa-token", ca=b"SA-CA"):
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_bytes(ca)
    return sa


def test_in_cluster_service_account_without_a_kubeconfig(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(_k8s, "SERVICE_ACCOUNT_DIR", str(service_account(tmp_path)))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    client = Client({})
    assert client.host == "https://10.96.0.1:443" and auth_header(client) == "Bearer sa-token"
    assert client.pool.connection_pool_kw["ca_certs"] == str(tmp_path / "serviceaccount" / "ca.crt")
    # a kubeconfig, when there is one, still wins, as with kubectl
    assert Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "kc"}))}).host == "https://127.0.0.1:6443"


def test_in_cluster_without_a_token_names_the_directory(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(_k8s, "SERVICE_ACCOUNT_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(KmetalError, match="cannot use the in-cluster service account .*missing"):
        Client({})


# -- proxies ----------------------------------------------------------------------------------------------------------

class ConnectProxy(object):
    """A tiny HTTP CONNECT proxy on 127.0.0.1 that records each CONNECT's target and headers, then tunnels (or, with
    REFUSE, answers that status line and closes)."""

    def __init__(self, refuse=None):
        self.refuse = refuse
        self.seen = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return conn.close()
            data += chunk
        head = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
        target = head[0].split()[1]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:])}
        self.seen.append((head[0].split()[0], target, headers))
        if self.refuse:
            conn.sendall(("HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n" % self.refuse).encode())
            return conn.close()
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pipe(conn, upstream)

    def close(self):
        self.sock.close()


class Socks5Proxy(ConnectProxy):
    """A tiny SOCKS5 proxy (no authentication, CONNECT only) on 127.0.0.1 recording each target."""

    def __init__(self):
        super().__init__()
        self.url = self.url.replace("http://", "socks5://")

    def _handle(self, conn):
        conn.recv(2 + 255)
        conn.sendall(b"\x05\x00")
        ver, cmd, _, atyp = conn.recv(4)
        if atyp == 1:
            host = socket.inet_ntoa(conn.recv(4))
        elif atyp == 3:
            host = conn.recv(conn.recv(1)[0]).decode()
        else:
            return conn.close()
        port = struct.unpack("!H", conn.recv(2))[0]
        self.seen.append(("SOCKS5", "%s:%d" % (host, port), {}))
        upstream = socket.create_connection((host, port))
        conn.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        pipe(conn, upstream)


def pipe(a, b):
    """Copy bytes both ways until either side closes."""
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 60)
            if not ready:
                break
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


@pytest.fixture
def proxy():
    servers = []

    def make(cls=ConnectProxy, **kwargs):
        servers.append(cls(**kwargs))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def test_proxy_credentials_go_in_proxy_authorization_on_connect(tmp_path, clean_env, proxy):
    server = proxy(refuse="407 Proxy Authentication Required")
    url = server.url.replace("http://", "http://ops:p%40ss@")
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "t"})), "proxy": url, "request_timeout": 10})
    with pytest.raises(KmetalError, match=r"the proxy http://\*\*\*@127.0.0.1:\d+ refused the tunnel to https://127.0.0.1:6443: .*407"):
        client.request("GET", "/api")
    verb, target, headers = server.seen[0]
    assert (verb, target) == ("CONNECT", "127.0.0.1:6443") and len(server.seen) == 1, "a refusal by the proxy is not retried"
    assert headers["proxy-authorization"] == "Basic " + b64(b"ops:p@ss")
    assert "authorization" not in headers, "the API token never goes to the proxy"


def test_https_proxy_and_no_proxy_from_the_environment(tmp_path, clean_env, monkeypatch):
    path = str(kubeconfig(tmp_path, {"token": "t"}, {"server": "https://api.prod.example:6443"}))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert Client({"kubeconfig": path}).pool.proxy.url == "http://proxy.example:3128"
    for no_proxy in ("*", "api.prod.example", "example", ".prod.example", "*.example", "api.prod.example:6443", "10.0.0.0/8, example"):
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert Client({"kubeconfig": path}).pool.proxy is None, no_proxy
    for no_proxy in ("ample", "api.prod.example:443", ".api.prod.example", "10.0.0.0/8"):
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert Client({"kubeconfig": path}).pool.proxy.host == "proxy.example", no_proxy
    # the kubeconfig's proxy-url and the proxy option win over the environment
    monkeypatch.setenv("NO_PROXY", "*")
    with_url = str(kubeconfig(tmp_path, {"token": "t"}, {"server": "https://h:6443", "proxy-url": "http://kc-proxy:1"}, name="p"))
    assert Client({"kubeconfig": with_url}).pool.proxy.host == "kc-proxy"
    assert Client({"kubeconfig": path, "proxy": "http://opt:2"}).pool.proxy.host == "opt"


def test_no_proxy_matches_ips_cidrs_and_ports():
    match = _k8s.no_proxy_matches
    assert match("10.1.2.3", 6443, "10.0.0.0/8") and match("10.1.2.3", 6443, "10.1.2.3") and match("10.1.2.3", 6443, "10.1.2.3:6443")
    assert not match("10.1.2.3", 6443, "10.1.2.3:443") and not match("11.1.2.3", 6443, "10.0.0.0/8,example.com")
    assert match("fd00::1", 6443, "fd00::/8") and match("fd00::1", 6443, "[fd00::1]:6443") and not match("fd00::1", 6443, "[fd00::1]:1")
    assert not match("h", 1, "") and not match("h", 1, "garbage/99")


def test_socks5_without_pysocks_is_a_clear_error_naming_the_option(tmp_path, clean_env, monkeypatch):
    monkeypatch.setitem(sys.modules, "urllib3.contrib.socks", None)  # as if PySocks were not installed
    with pytest.raises(KmetalError, match=r"^proxy: the proxy socks5://127.0.0.1:1080 \(from proxy\) is a SOCKS proxy, which needs the PySocks"):
        Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "t"})), "proxy": "socks5://127.0.0.1:1080"})
    with pytest.raises(KmetalError, match=r"^proxy: .* has the scheme 'ftp'"):
        Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "t"})), "proxy": "ftp://127.0.0.1:21"})


def test_socks5_with_pysocks_uses_a_socks_pool(tmp_path, clean_env):
    pytest.importorskip("socks", reason="PySocks is not installed (pyproject's dev extra installs it)")
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "t"})), "proxy": "socks5h://u:p@127.0.0.1:1080"})
    assert type(client.pool).__name__ == "SOCKSProxyManager"


# -- retries: urllib3's Retry within the overall deadline -------------------------------------------------------------

class Answer(object):
    def __init__(self, status, headers=None):
        self.status, self.headers, self.data, self.reason = status, headers or {}, b"{}", "r"


def test_retry_after_as_an_http_date_and_the_deadline_bounds_every_sleep(tmp_path, clean_env):
    sleeps = []
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, {"token": "t"})), "request_timeout": 3}, sleep=sleeps.append)
    answers = [Answer(503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}), Answer(200)]
    client.pool.request = lambda *a, **kw: answers.pop(0)
    assert client.request("GET", "/x")[0] == 200
    assert len(sleeps) == 1 and 2.5 < sleeps[0] < 3, "a far Retry-After is cut at the deadline"


# -- against the lab API ----------------------------------------------------------------------------------------------

def lab_admin(lab_api, tmp_path):
    """The lab admin's certificate and key as PEM files, and the lab CA."""
    user = yaml.safe_load(Path(lab_api.kubeconfig).read_text())["users"][0]["user"]
    crt, key = tmp_path / "admin.crt", tmp_path / "admin.key"
    crt.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    return crt, key


def whoami(client):
    status, review = client.request("POST", WHOAMI, body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert status == 201, review
    return review["status"]["userInfo"]["username"]


def lab_cluster(lab_api, **extra):
    return dict({"server": lab_api.server, "certificate-authority": str(lab_api.ca_cert)}, **extra)


def test_lab_exec_plugin_returning_the_admin_certificate_lists_namespaces(lab_api, tmp_path, clean_env):
    crt, key = lab_admin(lab_api, tmp_path)
    user = exec_plugin(tmp_path, {"clientCertificateData": crt.read_text(), "clientKeyData": key.read_text()})
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, user, lab_cluster(lab_api)))})
    status, namespaces = client.request("GET", "/api/v1/namespaces")
    assert status == 200 and "kube-system" in [n["metadata"]["name"] for n in namespaces["items"]]
    assert whoami(client) == "kmetal-lab-admin"


def service_account_token(lab_api, namespace):
    """A ServiceAccount in NAMESPACE and a token for it from the TokenRequest API (what the kubelet mounts in pods)."""
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(lab_api.kubeconfig)))
    api.create_namespaced_service_account(namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="awx-job")))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    return api.create_namespaced_service_account_token("awx-job", namespace, request).status.token


def test_lab_in_cluster_service_account_authenticates_as_itself(lab_api, namespace, tmp_path, clean_env, monkeypatch):
    token = service_account_token(lab_api, namespace)
    sa = service_account(tmp_path, token=token, ca=Path(lab_api.ca_cert).read_bytes())
    monkeypatch.setattr(_k8s, "SERVICE_ACCOUNT_DIR", str(sa))
    host, port = lab_api.server.split("//")[1].rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    assert whoami(Client({})) == "system:serviceaccount:%s:awx-job" % namespace


def test_lab_through_a_proxy_with_credentials(lab_api, tmp_path, clean_env, proxy):
    server = proxy()
    crt, key = lab_admin(lab_api, tmp_path)
    path = kubeconfig(tmp_path, {"client-certificate": str(crt), "client-key": str(key)},
                      lab_cluster(lab_api, **{"proxy-url": server.url.replace("http://", "http://ops:s3cret@")}))
    assert whoami(Client({"kubeconfig": str(path)})) == "kmetal-lab-admin"
    assert server.seen and server.seen[0][1] == lab_api.server.split("//")[1]
    assert server.seen[0][2]["proxy-authorization"] == "Basic " + b64(b"ops:s3cret")


def test_lab_https_proxy_from_the_environment_unless_no_proxy(lab_api, tmp_path, clean_env, proxy, monkeypatch):
    server = proxy()
    crt, key = lab_admin(lab_api, tmp_path)
    path = str(kubeconfig(tmp_path, {"client-certificate": str(crt), "client-key": str(key)}, lab_cluster(lab_api)))
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    assert whoami(Client({"kubeconfig": path})) == "kmetal-lab-admin" and len(server.seen) == 1
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
    assert whoami(Client({"kubeconfig": path})) == "kmetal-lab-admin" and len(server.seen) == 1, "NO_PROXY bypassed the proxy"


def test_lab_through_a_socks5_proxy(lab_api, tmp_path, clean_env, proxy):
    pytest.importorskip("socks", reason="PySocks is not installed (pyproject's dev extra installs it)")
    server = proxy(Socks5Proxy)
    crt, key = lab_admin(lab_api, tmp_path)
    path = kubeconfig(tmp_path, {"client-certificate": str(crt), "client-key": str(key)}, lab_cluster(lab_api))
    assert whoami(Client({"kubeconfig": str(path), "proxy": server.url})) == "kmetal-lab-admin"
    assert server.seen and server.seen[0][1] == lab_api.server.split("//")[1]


def test_lab_exec_plugin_token_reaches_the_api(lab_api, namespace, tmp_path, clean_env):
    token = service_account_token(lab_api, namespace)
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, exec_plugin(tmp_path, {"token": token}), lab_cluster(lab_api)))})
    assert whoami(client) == "system:serviceaccount:%s:awx-job" % namespace


def test_a_401_says_what_was_sent_and_from_where(tmp_path, clean_env):
    user = exec_plugin(tmp_path, {"clientCertificateData": (PEM_CERT % 3).decode(), "clientKeyData": (PEM_KEY % 3).decode()})
    client = Client({"kubeconfig": str(kubeconfig(tmp_path, user))})
    client.pool.request = lambda *a, **kw: Answer(401)
    with pytest.raises(KmetalError, match=r"refused the credentials \(401 Unauthorized\): sent the client certificate .* from the kubeconfig's exec"):
        client.request("GET", "/x")
    bare = Client({"kubeconfig": str(kubeconfig(tmp_path, {}, name="bare"))})
    bare.pool.request = lambda *a, **kw: Answer(401)
    with pytest.raises(KmetalError, match=r"wants credentials \(401 Unauthorized\) and none were sent"):
        bare.request("GET", "/x")
