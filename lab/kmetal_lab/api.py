"""The lab API: a real etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 with TLS and RBAC.

`up` reuses a healthy lab, cleans up a half-started one and starts a new one otherwise; `down` stops only the
processes the lab started (by the PIDs it recorded, checked against their command lines).
"""

import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import crds, paths, pki
from .paths import LabError

PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager")
SERVICE_CIDR = "10.96.0.0/16"
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    # Metadata of every request: enough for tests to count what a module sent, verb by verb.
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


@dataclass
class LabAPI:
    """What a client of a running lab needs."""

    server: str
    kubeconfig: Path
    audit_log: Path
    ca_cert: Path


def _dir() -> Path:
    return paths.lab_dir()


def _state_file() -> Path:
    return _dir() / "state.json"


def _read_state() -> dict | None:
    try:
        return json.loads(_state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_state(state: dict) -> None:
    _dir().mkdir(parents=True, exist_ok=True)
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_file())


def _ours(pid: int, binary: str) -> bool:
    """True when PID is alive and is the binary the lab started (a PID can be reused by an unrelated process)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return Path(cmdline).name == Path(binary).name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port(env: str) -> int:
    """A port from the environment (checked free) or any free loopback port."""
    wanted = os.environ.get(env)
    if not wanted:
        return _free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", int(wanted)))
        except OSError as err:
            raise LabError(f"{env}={wanted}: port {wanted} on 127.0.0.1 is taken ({err.strerror}); choose a free port or unset {env} to let the lab pick one") from None
    return int(wanted)


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"


def _ssl_context(pki_dir: Path, client: str = "admin") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
    ctx.load_cert_chain(pki_dir / f"{client}.crt", pki_dir / f"{client}.key")
    return ctx


def _get(url: str, ctx: ssl.SSLContext, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as err:
        return 0, str(err)


def _healthy(state: dict) -> bool:
    if not all(_ours(state["pids"].get(name, -1), name) for name in PROCESSES):
        return False
    status, body = _get(f"{state['server']}/readyz", _ssl_context(_dir() / "pki"))
    return status == 200 and body.strip() == "ok"


def _start(name: str, args: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        # A session of its own, so that the lab outlives this command and a Ctrl-C here does not reach it.
        return subprocess.Popen([str(paths.binary(name)), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(what: str, proc: subprocess.Popen, log: Path, check, timeout: float) -> None:
    """Poll CHECK until it passes; fail fast with the log's tail when the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(f"{what} exited with code {proc.returncode} while starting. Last lines of {log}:\n{_tail(log)}")
        if check():
            return
        time.sleep(0.2)
    raise LabError(f"{what} did not become ready within {timeout:.0f}s. Last lines of {log}:\n{_tail(log)}")


def _kubeconfig(path: Path, server: str, pki_dir: Path, client: str, user: str) -> Path:
    def b64(name):
        return base64.b64encode((pki_dir / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmetal-lab", "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(f"{client}.crt"), "client-key-data": b64(f"{client}.key")}}],
        "contexts": [{"name": f"{user}@kmetal-lab", "context": {"cluster": "kmetal-lab", "user": user}}],
        "current-context": f"{user}@kmetal-lab",
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle)
    os.chmod(path, 0o600)  # also when the file already existed with wider permissions
    return path


@contextlib.contextmanager
def _locked():
    """One `up` or `down` at a time per lab directory (tests, the demo and a shell may race for the same lab)."""
    _dir().mkdir(parents=True, exist_ok=True)
    with open(_dir() / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _info(state: dict) -> LabAPI:
    return LabAPI(server=state["server"], kubeconfig=_dir() / "kubeconfig", audit_log=_dir() / "logs" / "audit.log", ca_cert=_dir() / "pki" / "ca.crt")


def up(timeout: float = 120.0, say=print, install_crds: bool = True) -> LabAPI:
    """Start the lab API (or reuse the healthy one), install the upstream CRDs, and return how to reach it."""
    with _locked():
        return _up(timeout, say, install_crds)


def _up(timeout: float, say, install_crds: bool) -> LabAPI:
    state = _read_state()
    if state and _healthy(state):
        say(f"lab: reusing the running lab API at {state['server']}")
        if install_crds:
            crds.install(_dir() / "kubeconfig", say=say)
        return _info(state)
    if state:
        say("lab: found a stopped or half-started lab; cleaning it up before starting a new one")
        _down(say=lambda *_: None)

    lab = _dir()
    pki_dir, logs = lab / "pki", lab / "logs"
    for name in PROCESSES:
        paths.binary(name)  # fail before starting anything when a binary is missing
    ca = pki.CA(pki_dir)
    ca.issue("etcd", "kmetal-lab-etcd", server_names=["127.0.0.1", "localhost"])
    ca.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True)
    ca.issue("apiserver", "kube-apiserver", server_names=["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.96.0.1"])
    ca.issue("admin", "kmetal-lab-admin", org="system:masters", client=True)
    ca.issue("controller-manager", "system:kube-controller-manager", client=True)
    sa_key, sa_pub = pki.service_account_keys(pki_dir)
    (lab / "audit-policy.yaml").write_text(yaml.safe_dump(AUDIT_POLICY))

    etcd_port, peer_port, api_port = _port("KMETAL_LAB_ETCD_PORT"), _free_port(), _port("KMETAL_LAB_API_PORT")
    for name in PROCESSES:
        (logs / f"{name}.log").unlink(missing_ok=True)  # a new lab, new logs: a failure shows its own lines only
    server = f"https://127.0.0.1:{api_port}"
    state = {"server": server, "ports": {"etcd": etcd_port, "etcd-peer": peer_port, "kube-apiserver": api_port}, "pids": {}}
    _write_state(state)  # written before anything starts, so that `down` can always find what was started
    p = str(pki_dir)
    procs = {}
    try:
        tls = [f"--cert-file={p}/etcd.crt", f"--key-file={p}/etcd.key", f"--trusted-ca-file={p}/ca.crt", "--client-cert-auth"]
        peer_tls = [f"--peer-cert-file={p}/etcd.crt", f"--peer-key-file={p}/etcd.key", f"--peer-trusted-ca-file={p}/ca.crt", "--peer-client-cert-auth"]
        procs["etcd"] = _start("etcd", [
            "--name=lab", f"--data-dir={lab}/etcd",
            f"--listen-client-urls=https://127.0.0.1:{etcd_port}", f"--advertise-client-urls=https://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=https://127.0.0.1:{peer_port}", f"--initial-advertise-peer-urls=https://127.0.0.1:{peer_port}",
            f"--initial-cluster=lab=https://127.0.0.1:{peer_port}", "--initial-cluster-state=new",
            "--unsafe-no-fsync",  # a throwaway lab: fsync would cost seconds per test run and buys nothing here
            "--log-level=warn", *tls, *peer_tls,
        ], logs / "etcd.log")
        state["pids"]["etcd"] = procs["etcd"].pid
        _write_state(state)
        etcd_ctx = _ssl_context(pki_dir, "apiserver-etcd-client")
        _wait("etcd", procs["etcd"], logs / "etcd.log", lambda: _get(f"https://127.0.0.1:{etcd_port}/health", etcd_ctx)[0] == 200, timeout)

        procs["kube-apiserver"] = _start("kube-apiserver", [
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            f"--etcd-servers=https://127.0.0.1:{etcd_port}", f"--etcd-cafile={p}/ca.crt",
            f"--etcd-certfile={p}/apiserver-etcd-client.crt", f"--etcd-keyfile={p}/apiserver-etcd-client.key",
            f"--client-ca-file={p}/ca.crt", f"--tls-cert-file={p}/apiserver.crt", f"--tls-private-key-file={p}/apiserver.key",
            f"--cert-dir={p}", "--authorization-mode=RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
            f"--audit-policy-file={lab}/audit-policy.yaml", f"--audit-log-path={logs}/audit.log",
            "--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=200", "--audit-log-maxbackup=1",
            "--allow-privileged=true", "--profiling=false",
        ], logs / "kube-apiserver.log")
        state["pids"]["kube-apiserver"] = procs["kube-apiserver"].pid
        _write_state(state)
        api_ctx = _ssl_context(pki_dir)
        _wait("kube-apiserver", procs["kube-apiserver"], logs / "kube-apiserver.log", lambda: _get(f"{server}/readyz", api_ctx) == (200, "ok"), timeout)

        kubeconfig = _kubeconfig(lab / "kubeconfig", server, pki_dir, "admin", "kmetal-lab-admin")
        kcm_config = _kubeconfig(lab / "controller-manager.kubeconfig", server, pki_dir, "controller-manager", "system:kube-controller-manager")
        # Only the controllers that give the lab API the behaviour the modules rely on: namespaces that finish
        # deleting, owner-reference garbage collection, quota usage, service accounts and aggregated roles.
        procs["kube-controller-manager"] = _start("kube-controller-manager", [
            f"--kubeconfig={kcm_config}", f"--authentication-kubeconfig={kcm_config}", f"--authorization-kubeconfig={kcm_config}",
            "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
            "--use-service-account-credentials=true",  # each controller acts with its own RBAC role, as kubeadm sets it
            "--controllers=namespace-controller,garbage-collector-controller,resourcequota-controller,serviceaccount-controller,serviceaccount-token-controller,clusterrole-aggregation-controller",
            f"--service-account-private-key-file={sa_key}", f"--root-ca-file={p}/ca.crt",
        ], logs / "kube-controller-manager.log")
        state["pids"]["kube-controller-manager"] = procs["kube-controller-manager"].pid
        _write_state(state)
        time.sleep(1.0)
        if procs["kube-controller-manager"].poll() is not None:
            raise LabError(f"kube-controller-manager exited while starting. Last lines of {logs}/kube-controller-manager.log:\n{_tail(logs / 'kube-controller-manager.log')}")
    except BaseException:
        _down(say=lambda *_: None)
        raise

    say(f"lab: API ready at {server} (kubeconfig {kubeconfig})")
    if install_crds:
        crds.install(kubeconfig, say=say)
    return _info(state)


def down(say=print) -> None:
    """Stop every process the lab recorded, and only those; remove the lab's data but keep its certificates."""
    with _locked():
        _down(say)


def _down(say) -> None:
    state = _read_state()
    if not state:
        say("lab: nothing is running")
        return
    for name in reversed(PROCESSES):
        pid = state["pids"].get(name)
        if pid and _ours(pid, name):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _ours(pid, name) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if _ours(pid, name):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
            say(f"lab: stopped {name} (pid {pid})")
    subprocess.run(["rm", "-rf", str(_dir() / "etcd")], check=True)
    _state_file().unlink(missing_ok=True)
    (_dir() / crds.STAMP).unlink(missing_ok=True)


def _reap(pid: int) -> None:
    """Collect PID if it is our child (when `up` and `down` run in one process), so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status() -> dict:
    state = _read_state()
    if not state:
        return {"running": False}
    procs = {name: {"pid": state["pids"].get(name), "alive": _ours(state["pids"].get(name, -1), name)} for name in PROCESSES}
    ready = False
    version = None
    if procs["kube-apiserver"]["alive"]:
        ctx = _ssl_context(_dir() / "pki")
        ready = _get(f"{state['server']}/readyz", ctx) == (200, "ok")
        code, body = _get(f"{state['server']}/version", ctx)
        version = json.loads(body).get("gitVersion") if code == 200 else None
    return {"running": ready, "server": state["server"], "version": version, "kubeconfig": str(_dir() / "kubeconfig"), "processes": procs}


def ensure_up() -> LabAPI:
    """For tests: the running lab, started when none is up."""
    return up(say=lambda msg: print(msg, file=sys.stderr))
