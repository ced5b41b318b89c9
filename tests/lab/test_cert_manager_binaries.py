"""cert-manager's binaries (lab/go/cert-manager, built by `make artifacts` into $KMETAL_CACHE/bin) are the real
thing: run as plain processes against the lab API, each with exactly the args the vendored chart gives its
container (plus the kubeconfig and free local ports, since there is no pod), the controller issues a self-signed
Certificate, the webhook serves TLS from the CA it keeps in a Secret and answers its probes, the cainjector
injects CA data, startupapicheck passes through the webhooks, and acmesolver answers a challenge."""

import base64
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client
from kubernetes.client.rest import ApiException

from kmetal_lab import paths

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
NAMES = ("controller", "webhook", "cainjector", "acmesolver", "startupapicheck")
RELEASE = "cm"  # the chart's objects are named cm-cert-manager-*


def _skip(reason: str):
    print(f"skipping the cert-manager binary tests: {reason}")
    pytest.skip(reason)


def _binaries(version: str) -> dict:
    found = {n: paths.cache_dir() / "bin" / f"cert-manager-{n}-{version}" for n in NAMES}
    missing = [str(p) for p in found.values() if not p.exists()]
    if missing:
        _skip(f"not built: {', '.join(missing)} (run `make artifacts`, lab/build-artifacts.sh)")
    return found


def _chart(version: str) -> Path:
    for chart in (REPO / "charts/kmetal/charts/cert-manager", paths.cache_dir() / "charts" / f"cert-manager-{version}"):
        if (chart / "Chart.yaml").exists():
            return chart
    _skip("the cert-manager chart is not vendored (run charts/vendor.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float = 90, every: float = 0.5, logs=()):
    """Poll check() until it returns something truthy; fail with the processes' log tails after timeout."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            got = check()
            if got:
                return got
        except Exception as err:  # noqa: BLE001 - keep polling, report the last error
            last = err
        time.sleep(every)
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]) for p in logs if p.exists())
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last})\n{tails}", pytrace=False)


def _http_status(url: str, host: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@dataclass
class CertManager:
    namespace: str
    kubeconfig: Path
    bins: dict
    rendered: list
    ports: dict
    logs: dict
    procs: dict = field(default_factory=dict)
    cluster_objects: list = field(default_factory=list)  # (kind, name) to delete afterwards

    def args(self, container: str) -> list:
        """The chart's args for one container, $(POD_NAMESPACE) expanded as the kubelet would."""
        for doc in self.rendered:
            if doc["kind"] in ("Deployment", "Job"):
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    if c["name"] == container:
                        return [a.replace("$(POD_NAMESPACE)", self.namespace) for a in c.get("args", [])]
        raise KeyError(container)

    def start(self, name: str, args: list) -> None:
        log = self.logs[name]
        self.procs[name] = subprocess.Popen([str(self.bins[name]), *args], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                            env={**os.environ, "POD_NAMESPACE": self.namespace})

    def running(self, name: str) -> bool:
        if self.procs[name].poll() is not None:
            tail = "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-20:])
            pytest.fail(f"cert-manager {name} exited with {self.procs[name].returncode}:\n{tail}", pytrace=False)
        return True


@pytest.fixture(scope="module")
def built():
    """The binaries and the vendored chart, checked before the lab API is started for nothing."""
    version = paths.versions()["CERT_MANAGER_VERSION"]
    return _binaries(version), _chart(version)


@pytest.fixture(scope="module")
def cm(built, lab_api, k8s, tmp_path_factory):
    bins, chart = built
    core = client.CoreV1Api(k8s)
    ns = f"t-cert-manager-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels={"kmetal.io/test": "true"})))
    tmp = tmp_path_factory.mktemp("cert-manager")
    rendered = subprocess.run([str(paths.binary("helm")), "template", RELEASE, str(chart), "--namespace", ns, "--set", "crds.enabled=true"],
                              capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    # The chart's own CRDs (templates/crd-*.yaml), applied over the ones the lab installs from deploy/crds.
    crds = tmp / "crds.yaml"
    crds.write_text(yaml.safe_dump_all([d for d in docs if d["kind"] == "CustomResourceDefinition"]))
    subprocess.run([str(paths.binary("kubectl")), f"--kubeconfig={lab_api.kubeconfig}", "apply", "--server-side", "--force-conflicts", "-f", str(crds)],
                   capture_output=True, text=True, check=True)
    ext = client.ApiextensionsV1Api(k8s)
    for d in docs:
        if d["kind"] == "CustomResourceDefinition":
            _wait(f"CRD {d['metadata']['name']} established", lambda n=d["metadata"]["name"]: any(
                c.type == "Established" and c.status == "True" for c in ext.read_custom_resource_definition(n).status.conditions or []))

    ports = {k: _free_port() for k in ("controller-metrics", "controller-healthz", "webhook-secure", "webhook-healthz", "webhook-metrics",
                                       "cainjector-metrics")}
    state = CertManager(ns, lab_api.kubeconfig, bins, docs, ports, {n: tmp / f"{n}.log" for n in NAMES})
    kube = f"--kubeconfig={lab_api.kubeconfig}"
    # Leader election in the test's namespace rather than the chart's kube-system: a Lease left by an earlier,
    # killed run cannot hold this one up. Flags given later override earlier ones; list flags add up.
    state.start("controller", [*state.args("cert-manager-controller"), kube, f"--leader-election-namespace={ns}",
                               f"--metrics-listen-address=127.0.0.1:{ports['controller-metrics']}",
                               f"--internal-healthz-listen-address=127.0.0.1:{ports['controller-healthz']}"])
    state.start("webhook", [*state.args("cert-manager-webhook"), kube, f"--secure-port={ports['webhook-secure']}",
                            f"--healthz-port={ports['webhook-healthz']}", f"--metrics-listen-address=127.0.0.1:{ports['webhook-metrics']}",
                            "--dynamic-serving-dns-names=localhost"])  # the lab API calls it at https://localhost:<port>
    state.start("cainjector", [*state.args("cert-manager-cainjector"), kube, f"--leader-election-namespace={ns}",
                               f"--metrics-listen-address=127.0.0.1:{ports['cainjector-metrics']}"])
    yield state
    for proc in state.procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in state.procs.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    adm = client.AdmissionregistrationV1Api(k8s)
    for kind, name in state.cluster_objects:
        try:
            getattr(adm, f"delete_{kind}")(name)
        except ApiException as err:
            if err.status != 404:
                raise
    core.delete_namespace(ns, propagation_policy="Background")


def _issue(k8s, ns: str, name: str, logs) -> client.V1Secret:
    """A self-signed Issuer and a Certificate from it; waits until the controller reports it Ready."""
    custom = client.CustomObjectsApi(k8s)
    try:
        custom.create_namespaced_custom_object("cert-manager.io", "v1", ns, "issuers", {
            "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "selfsigned"}, "spec": {"selfSigned": {}}})
    except ApiException as err:
        if err.status != 409:
            raise
    custom.create_namespaced_custom_object("cert-manager.io", "v1", ns, "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
        "spec": {"secretName": f"{name}-tls", "commonName": f"{name}.kmetal.test", "dnsNames": [f"{name}.kmetal.test"], "isCA": True,
                 "issuerRef": {"name": "selfsigned", "kind": "Issuer", "group": "cert-manager.io"}}})

    def ready():
        cert = custom.get_namespaced_custom_object("cert-manager.io", "v1", ns, "certificates", name)
        return any(c["type"] == "Ready" and c["status"] == "True" for c in cert.get("status", {}).get("conditions", []))

    _wait(f"Certificate {ns}/{name} Ready", ready, logs=logs)
    return client.CoreV1Api(k8s).read_namespaced_secret(f"{name}-tls", ns)


def test_each_binary_runs_with_the_chart_args_and_reports_the_version(cm):
    version = paths.versions()["CERT_MANAGER_VERSION"]
    for name, what in (("controller", "controller"), ("webhook", "webhook"), ("cainjector", "cainjector")):
        _wait(f"{name}'s startup line", lambda n=name, w=what: cm.running(n) and f"starting cert-manager {w}" in cm.logs[n].read_text(), logs=[cm.logs[name]])
        line = next(x for x in cm.logs[name].read_text().splitlines() if f"starting cert-manager {what}" in x)
        assert f'version="{version}"' in line, line
        assert 'git_commit="' in line and 'git_commit=""' not in line, line
    # The controller's liveness probe endpoint (/livez on :9403 in the chart; here a free port), healthy once it leads.
    _wait("controller /livez", lambda: cm.running("controller") and _http_status(f"http://127.0.0.1:{cm.ports['controller-healthz']}/livez")[0] == 200,
          logs=[cm.logs["controller"]])
    status, body = _http_status(f"http://127.0.0.1:{cm.ports['controller-metrics']}/metrics")
    assert status == 200 and "certmanager_clock_time_seconds" in body


def test_controller_issues_a_self_signed_certificate(cm, k8s):
    secret = _issue(k8s, cm.namespace, "smoke", logs=[cm.logs["controller"]])
    assert set(secret.data) >= {"tls.crt", "tls.key", "ca.crt"}
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "smoke.kmetal.test"
    assert cert.issuer == cert.subject  # self-signed
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["smoke.kmetal.test"]
    assert secret.metadata.annotations["cert-manager.io/certificate-name"] == "smoke"
    # The controller's leader election Lease is held in the namespace it was told.
    lease = client.CoordinationV1Api(k8s).read_namespaced_lease("cert-manager-controller", cm.namespace)
    assert lease.spec.holder_identity.endswith("-external-cert-manager-controller")


def test_webhook_serves_tls_from_its_dynamic_ca_and_answers_its_probes(cm, k8s):
    core = client.CoreV1Api(k8s)
    ca_secret = f"{RELEASE}-cert-manager-webhook-ca"  # --dynamic-serving-ca-secret-name, as the chart sets it
    secret = _wait(f"Secret {ca_secret}", lambda: cm.running("webhook") and core.read_namespaced_secret(ca_secret, cm.namespace), logs=[cm.logs["webhook"]])
    for path in ("/healthz", "/livez"):  # the chart's readiness and liveness probes, on the healthcheck port
        _wait(f"webhook {path}", lambda p=path: cm.running("webhook") and _http_status(f"http://127.0.0.1:{cm.ports['webhook-healthz']}{p}")[0] == 200,
              logs=[cm.logs["webhook"]])
    ctx = ssl.create_default_context(cadata=base64.b64decode(secret.data["ca.crt"]).decode())
    host = f"{RELEASE}-cert-manager-webhook.{cm.namespace}.svc"  # a --dynamic-serving-dns-names the chart passes
    with socket.create_connection(("127.0.0.1", cm.ports["webhook-secure"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            served = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert {f"{RELEASE}-cert-manager-webhook", f"{RELEASE}-cert-manager-webhook.{cm.namespace}", host} <= set(names)


def test_cainjector_injects_a_certificates_ca_into_a_webhook_configuration(cm, k8s):
    secret = _issue(k8s, cm.namespace, "injected", logs=[cm.logs["controller"]])
    adm = client.AdmissionregistrationV1Api(k8s)
    name = f"{cm.namespace}-inject"
    cm.cluster_objects.append(("validating_webhook_configuration", name))
    adm.create_validating_webhook_configuration(client.V1ValidatingWebhookConfiguration(
        metadata=client.V1ObjectMeta(name=name, annotations={"cert-manager.io/inject-ca-from": f"{cm.namespace}/injected"}),
        webhooks=[client.V1ValidatingWebhook(
            name="inject.kmetal.test", side_effects="None", admission_review_versions=["v1"], failure_policy="Ignore",
            client_config=client.AdmissionregistrationV1WebhookClientConfig(url="https://localhost:1/never-called"),
            rules=[client.V1RuleWithOperations(api_groups=["kmetal.test"], api_versions=["v1"], operations=["CREATE"], resources=["nothings"])])]))

    def injected():
        cm.running("cainjector")
        return adm.read_validating_webhook_configuration(name).webhooks[0].client_config.ca_bundle

    bundle = _wait("the CA bundle injected", injected, logs=[cm.logs["cainjector"]])
    assert base64.b64decode(bundle) == base64.b64decode(secret.data["ca.crt"])


def test_startupapicheck_finds_the_api_ready_through_the_chart_webhooks(cm, k8s):
    """The chart's own webhook configurations (pointed at the webhook process, limited to the test's namespace)
    get their CA from the cainjector (inject-ca-from-secret); then the chart's post-install check passes: the
    mutating webhook fills in the requester, the validating webhook refuses an invalid CertificateRequest."""
    adm = client.AdmissionregistrationV1Api(k8s)
    for doc in cm.rendered:
        if doc["kind"] not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            continue
        kind = "mutating_webhook_configuration" if doc["kind"].startswith("Mutating") else "validating_webhook_configuration"
        doc["metadata"]["name"] = f"{cm.namespace}-{doc['metadata']['name']}"
        for hook in doc["webhooks"]:
            svc = hook["clientConfig"].pop("service")
            hook["clientConfig"]["url"] = f"https://localhost:{cm.ports['webhook-secure']}{svc['path']}"
            hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": cm.namespace}}
        cm.cluster_objects.append((kind, doc["metadata"]["name"]))
        getattr(adm, f"create_{kind}")(doc)
        _wait(f"{doc['kind']} CA bundle", lambda k=kind, n=doc["metadata"]["name"]: cm.running("cainjector") and all(
            h.client_config.ca_bundle for h in getattr(adm, f"read_{k}")(n).webhooks), logs=[cm.logs["cainjector"]])
    args = cm.args("cert-manager-startupapicheck")
    assert args[:2] == ["check", "api"]
    done = subprocess.run([str(cm.bins["startupapicheck"]), *args, f"--kubeconfig={cm.kubeconfig}", f"--namespace={cm.namespace}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The cert-manager API is ready" in done.stdout


def test_acmesolver_answers_the_challenge_it_was_given(cm):
    """acmesolver runs in the pods the controller creates for HTTP-01 challenges, with these four flags."""
    port = _free_port()
    cm.start("acmesolver", [f"--listen-port={port}", "--domain=smoke.kmetal.test", "--token=tok123", "--key=tok123.thumb"])
    url = f"http://127.0.0.1:{port}/.well-known/acme-challenge/tok123"
    got = _wait("acmesolver's answer", lambda: cm.running("acmesolver") and _http_status(url, host="smoke.kmetal.test"), logs=[cm.logs["acmesolver"]])
    assert got == (200, "tok123.thumb")
    assert _http_status(url, host="other.kmetal.test")[0] == 404
