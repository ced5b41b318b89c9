"""`lab mirror up/down/status`: a real registry, a TLS file server and a signed apt repository on the lab's bridge.

Each test runs a mirror of its own (a private KMETAL_LAB_DIR, a test address on kmb0m) filled from a small cache
made here: kubectl as a release file, an image assembled with crane, and two Debian packages (chrony, conntrack).
A mirror the lab itself runs on 198.18.0.1 is left alone.
"""

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kmetal_lab import paths

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "198.18.0.250"  # a test address on the mirror's network, next to the lab's own mirror on .1
IMAGE = "registry.k8s.io/kmetal-test/pause:3.10"
KUBECTL_PATH = "v1.34.4/bin/linux/amd64/kubectl"


def lab(env, *args, check=True, timeout=900):
    result = subprocess.run([str(REPO / "bin" / "lab"), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"lab {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def bridge_exists() -> bool:
    return Path("/sys/class/net/kmb0m").exists()


def addresses(dev: str) -> list[str]:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", dev], capture_output=True, text=True, check=False).stdout or "[]"
    return [a["local"] for link in json.loads(out) for a in link.get("addr_info", [])]


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A build cache with one release file, one image tarball and artifacts.json; shared by the module's tests so
    the Debian packages download once (into its mirror/debian)."""
    if os.geteuid() != 0:
        pytest.fail("the lab mirror needs root (bridge kmb0m)", pytrace=False)
    root = tmp_path_factory.mktemp("cache")
    kubectl = root / "files" / "kubernetes" / KUBECTL_PATH
    kubectl.parent.mkdir(parents=True)
    shutil.copy(paths.binary("kubectl").resolve(), kubectl)
    layer_dir = root / "layer"
    layer_dir.mkdir()
    shutil.copy("/bin/true", layer_dir / "pause")
    subprocess.run(["tar", "-C", str(layer_dir), "-cf", str(root / "layer.tar"), "."], check=True)
    tarball = root / "images" / "registry.k8s.io" / "kmetal-test" / "pause" / "3.10.tar"
    tarball.parent.mkdir(parents=True)
    crane = str(paths.binary("crane"))
    subprocess.run([crane, "append", "--oci-empty-base", "-f", str(root / "layer.tar"), "-t", IMAGE, "-o", str(tarball)], check=True, capture_output=True)
    digest = subprocess.run([crane, "digest", "--tarball", str(tarball)], check=True, capture_output=True, text=True).stdout.strip()
    (root / "artifacts.json").write_text(json.dumps({
        "files": [{"base": "kubernetes", "path": KUBECTL_PATH, "sha256": sha256(kubectl), "size": kubectl.stat().st_size}],
        "images": [{"ref": IMAGE, "tarball": str(tarball), "digest": digest}],
    }))
    return {"root": root, "kubectl": kubectl, "digest": digest}


def manifest(cache, **override) -> dict:
    data = {
        "architectures": ["amd64"],
        "files": [{"name": "kubectl", "version": "v1.34.4", "arch": "amd64", "base": "kubernetes", "path": KUBECTL_PATH,
                   "url": f"https://dl.k8s.io/release/{KUBECTL_PATH}", "sha256": sha256(cache["kubectl"])}],
        "images": [{"ref": IMAGE, "source": "runtime:test"}],
        "charts": [],
        "packages": [{"name": "chrony", "version": "", "role": "host_prep"}, {"name": "conntrack", "version": "", "role": "host_prep"},
                     {"name": "curl", "version": "", "role": "test"}],
    }
    data.update(override)
    return data


@pytest.fixture
def mirror_env(tmp_path, cache):
    """A private lab directory for one mirror, whose `down` runs afterwards whatever the test did."""
    env = dict(os.environ, KMETAL_LAB_DIR=str(tmp_path / "lab"), KMETAL_CACHE=str(cache["root"]), KMETAL_BIN=str(paths.bin_dir()),
               KMETAL_LAB_MIRROR_ADDRESS=ADDRESS)
    env["MANIFEST"] = str(tmp_path / "manifest.json")
    Path(env["MANIFEST"]).write_text(json.dumps(manifest(cache)))
    yield env
    lab(env, "mirror", "down", check=False)


def state(env) -> dict:
    return json.loads((Path(env["KMETAL_LAB_DIR"]) / "mirror" / "state.json").read_text())


def fetch(url: str, ctx: ssl.SSLContext) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=30) as resp:  # noqa: S310 - the lab's test address
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_up_serves_over_tls_of_the_lab_ca_reuses_itself_and_down_leaves_nothing(mirror_env, cache):
    bridge_before = bridge_exists()
    up = lab(mirror_env, "mirror", "up", "--manifest", mirror_env["MANIFEST"])
    lab_dir = Path(mirror_env["KMETAL_LAB_DIR"])
    ca = lab_dir / "pki" / "ca.crt"
    verified = ssl.create_default_context(cafile=str(ca))

    # A manifest file over TLS verified against the lab CA, byte for byte; and the access log records it.
    code, body = fetch(f"https://{ADDRESS}:8443/files/kubernetes/{KUBECTL_PATH}", verified)
    assert code == 200 and hashlib.sha256(body).hexdigest() == sha256(cache["kubectl"])
    log = [json.loads(line) for line in (lab_dir / "mirror" / "logs" / "access.log").read_text().splitlines()]
    assert {"path": f"/files/kubernetes/{KUBECTL_PATH}", "status": 200}.items() <= log[-1].items()
    # Not trusted without the lab CA (the system's roots do not vouch for it).
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        fetch(f"https://{ADDRESS}:8443/healthz", ssl.create_default_context())
    # Only what the manifest names is served.
    assert fetch(f"https://{ADDRESS}:8443/files/kubernetes/v1.34.4/bin/linux/amd64/kubelet", verified)[0] == 404

    # The registry answers the distribution API and holds the pushed image with its built digest.
    assert fetch(f"https://{ADDRESS}:5000/v2/", verified)[0] == 200
    crane_env = dict(os.environ, SSL_CERT_FILE=str(ca))
    tags = subprocess.run([str(paths.binary("crane")), "ls", f"{ADDRESS}:5000/registry.k8s.io/kmetal-test/pause"], env=crane_env,
                          capture_output=True, text=True, check=True).stdout.split()
    assert tags == ["3.10"]
    digest = subprocess.run([str(paths.binary("crane")), "digest", f"{ADDRESS}:5000/{IMAGE}"], env=crane_env, capture_output=True, text=True, check=True)
    assert digest.stdout.strip() == cache["digest"]

    # The apt repository: signed Release (InRelease verifies with the exported key), chrony in Packages.
    site = __import__("yaml").safe_load((lab_dir / "mirror" / "site-vars.yml").read_text())
    assert site["kmetal_apt_mirror"]["url"] == f"https://{ADDRESS}:8443/debian"
    assert site["kmetal_registry_mirrors"]["registry.k8s.io"] == f"https://{ADDRESS}:5000"
    assert site["kmetal_download_base_urls"]["kubernetes"] == f"https://{ADDRESS}:8443/files/kubernetes"
    assert site["kmetal_download_checksums"]["kubectl"]["amd64"]["v1.34.4"] == f"sha256:{sha256(cache['kubectl'])}"
    assert site["kmetal_mirror_ca_pem"] == ca.read_text()
    code, inrelease = fetch(f"https://{ADDRESS}:8443/debian/dists/bookworm/InRelease", verified)
    assert code == 200
    keyring = lab_dir / "test-keyring.gpg"
    subprocess.run(["gpg", "--dearmor", "-o", str(keyring)], input=site["kmetal_apt_mirror"]["key_pem"].encode(), check=True)
    subprocess.run(["gpgv", "--keyring", str(keyring), "-"], input=inrelease, check=True, capture_output=True)
    packages = fetch(f"https://{ADDRESS}:8443/debian/dists/bookworm/main/binary-amd64/Packages", verified)[1].decode()
    assert "\nPackage: chrony\n" in "\n" + packages and "\nPackage: conntrack\n" in "\n" + packages

    # status says ready; a second up reuses the same processes and downloads nothing.
    assert lab(mirror_env, "mirror", "status").returncode == 0
    pids = state(mirror_env)["pids"]
    again = lab(mirror_env, "mirror", "up", "--manifest", mirror_env["MANIFEST"])
    assert "reusing the running mirror" in again.stdout
    assert "downloading" not in again.stdout and "1 already in the registry" in again.stdout
    assert state(mirror_env)["pids"] == pids

    lab(mirror_env, "mirror", "down")
    assert wait_for(lambda: not any(alive(pid) for pid in pids.values()))
    # Only what up made goes: the test address, and kmb0m unless it was there before (the lab's own mirror).
    assert ADDRESS not in (addresses("kmb0m") if bridge_exists() else [])
    assert bridge_exists() == bridge_before, "down left kmb0m behind"
    assert lab(mirror_env, "mirror", "status", check=False).returncode == 3
    assert "ready in" in up.stdout


def test_two_mirrors_share_the_bridge_and_the_last_one_down_removes_it(mirror_env, tmp_path):
    """Each down removes its own address only; kmb0m goes with the last mirror that a mirror's up made it for."""
    bridge_before = bridge_exists()
    other = dict(mirror_env, KMETAL_LAB_DIR=str(tmp_path / "other"), KMETAL_LAB_MIRROR_ADDRESS="198.18.0.249")
    try:
        lab(mirror_env, "mirror", "up", "--manifest", mirror_env["MANIFEST"])
        lab(other, "mirror", "up", "--manifest", mirror_env["MANIFEST"])
        assert {ADDRESS, "198.18.0.249"} <= set(addresses("kmb0m"))
        lab(mirror_env, "mirror", "down")
        assert ADDRESS not in addresses("kmb0m") and "198.18.0.249" in addresses("kmb0m")
        assert lab(other, "mirror", "status").returncode == 0, "the other mirror stopped with the first"
    finally:
        lab(other, "mirror", "down", check=False)
    assert bridge_exists() == bridge_before


def test_stale_pid_file_never_kills_a_foreign_process(mirror_env):
    """A state file whose PIDs now belong to others (one even named `registry`): left alone, and a new mirror starts."""
    impostor = subprocess.Popen(["bash", "-c", "exec -a registry sleep 300"])
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        mirror_dir = Path(mirror_env["KMETAL_LAB_DIR"]) / "mirror"
        mirror_dir.mkdir(parents=True)
        (mirror_dir / "state.json").write_text(json.dumps({
            "address": ADDRESS, "pids": {"registry": impostor.pid, "files": sleeper.pid},
            "markers": {"registry": str(mirror_dir / "registry.yml"), "files": str(mirror_dir / "www")},
        }))
        lab(mirror_env, "mirror", "up", "--manifest", mirror_env["MANIFEST"])
        assert impostor.poll() is None and sleeper.poll() is None, "mirror up killed a process it had not started"
        assert state(mirror_env)["pids"]["registry"] != impostor.pid
        lab(mirror_env, "mirror", "down")
        assert impostor.poll() is None and sleeper.poll() is None, "mirror down killed a process it had not started"
    finally:
        impostor.kill()
        sleeper.kill()


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.1", "198.20.0.1"])
def test_an_address_outside_the_lab_range_is_refused_before_anything_is_made(mirror_env, address):
    bridge_before = bridge_exists()
    result = lab(dict(mirror_env, KMETAL_LAB_MIRROR_ADDRESS=address), "mirror", "up", "--manifest", mirror_env["MANIFEST"], check=False)
    assert result.returncode == 1
    assert f"mirror address {address} is outside the lab's own range 198.18.0.0/15" in result.stderr
    assert not (Path(mirror_env["KMETAL_LAB_DIR"]) / "mirror").exists()
    assert bridge_exists() == bridge_before


def test_missing_artifacts_are_named_with_make_artifacts_and_nothing_starts(mirror_env, cache, tmp_path):
    bridge_before = bridge_exists()
    missing_file = {"name": "kubelet", "version": "v1.34.4", "arch": "amd64", "base": "kubernetes", "path": "v1.34.4/bin/linux/amd64/kubelet",
                    "url": "x", "sha256": "0" * 64}
    data = manifest(cache)
    data["files"].append(missing_file)
    data["images"].append({"ref": "registry.k8s.io/kube-apiserver:v1.34.4", "source": "kubeadm"})
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(data))
    result = lab(mirror_env, "mirror", "up", "--manifest", str(path), check=False)
    assert result.returncode == 1
    assert "2 artifact(s) of the manifest are not in the cache" in result.stderr
    assert "file kubernetes/v1.34.4/bin/linux/amd64/kubelet" in result.stderr
    assert "image registry.k8s.io/kube-apiserver:v1.34.4" in result.stderr
    assert "`make artifacts`" in result.stderr
    assert not (Path(mirror_env["KMETAL_LAB_DIR"]) / "mirror" / "state.json").exists()
    assert bridge_exists() == bridge_before


def test_a_checksum_mismatch_is_refused_naming_file_expected_and_actual(mirror_env, cache, tmp_path):
    bridge_before = bridge_exists()
    wrong = "ab" * 32
    data = manifest(cache)
    data["files"][0]["sha256"] = wrong
    path = tmp_path / "mismatch.json"
    path.write_text(json.dumps(data))
    result = lab(mirror_env, "mirror", "up", "--manifest", str(path), check=False)
    assert result.returncode == 1
    assert f"checksum mismatch, refused: {cache['kubectl']}: expected sha256 {wrong}, actual {sha256(cache['kubectl'])}" in result.stderr
    assert not (Path(mirror_env["KMETAL_LAB_DIR"]) / "mirror" / "state.json").exists()
    assert bridge_exists() == bridge_before


@pytest.mark.hosts
def test_a_lab_host_installs_from_the_mirror_alone(mirror_env, cache):
    """From a lab host, through its route to 198.18.0.0/24: both servers over TLS with the lab CA, and apt installs
    chrony from /debian with the signed-by key and no other source."""
    up = subprocess.run([str(REPO / "bin" / "lab"), "hosts", "up", "1", "--prefix", "mirror"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        lab(mirror_env, "mirror", "up", "--manifest", mirror_env["MANIFEST"])
        lab_dir = Path(mirror_env["KMETAL_LAB_DIR"])
        site = __import__("yaml").safe_load((lab_dir / "mirror" / "site-vars.yml").read_text())
        host = json.loads(subprocess.run([str(REPO / "bin" / "lab"), "hosts", "status", "--json"], capture_output=True, text=True, check=True).stdout)
        address = host["mirror"]["hosts"]["mirror-1"]["address"]
        apt = site["kmetal_apt_mirror"]
        script = f"""set -e
mkdir -p /etc/kmetal /etc/apt/keyrings
cat > /etc/kmetal/mirror-ca.crt <<'EOF'
{site['kmetal_mirror_ca_pem']}EOF
cat > /etc/apt/keyrings/kmetal-mirror.asc <<'EOF'
{apt['key_pem']}EOF
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [signed-by=/etc/apt/keyrings/kmetal-mirror.asc] {apt['url']} {apt['suite']} main' > /etc/apt/sources.list.d/kmetal-mirror.list
echo 'Acquire::https::{ADDRESS}::CaInfo "/etc/kmetal/mirror-ca.crt";' > /etc/apt/apt.conf.d/50kmetal-mirror
ip route get {ADDRESS}
dpkg -s chrony >/dev/null 2>&1 && apt-get purge -y -q chrony >/dev/null
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chrony curl
dpkg -s chrony | grep -q 'Status: install ok installed'
echo CHRONY-INSTALLED
"""
        ssh = ["ssh", "-i", str(REPO / ".lab" / "ssh" / "id_ed25519"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{address}"]
        out = subprocess.run([*ssh, "bash -s"], input=script, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0 and "CHRONY-INSTALLED" in out.stdout, out.stdout + out.stderr
        assert "via 198.18." in out.stdout  # through the management gateway
        # Both servers over TLS, verified against the lab CA (curl, installed from the mirror just now), and not without it.
        curl = subprocess.run([*ssh, f"curl -sS -o /dev/null -w '%{{http_code}}\\n' --cacert /etc/kmetal/mirror-ca.crt https://{ADDRESS}:5000/v2/; "
                                     f"curl -sS --cacert /etc/kmetal/mirror-ca.crt https://{ADDRESS}:8443/files/kubernetes/{KUBECTL_PATH} | sha256sum"],
                              capture_output=True, text=True, timeout=120)
        assert curl.stdout.split()[:2] == ["200", sha256(cache["kubectl"])], curl.stdout + curl.stderr
        untrusted = subprocess.run([*ssh, f"curl -sS -o /dev/null https://{ADDRESS}:8443/healthz"], capture_output=True, text=True, timeout=120)
        assert untrusted.returncode == 60, untrusted.stdout + untrusted.stderr  # curl: peer certificate cannot be authenticated
        # The chrony package came from the mirror's pool.
        log = (lab_dir / "mirror" / "logs" / "access.log").read_text()
        assert '"path": "/debian/pool/main/chrony_' in log
        # Without the key, apt refuses the repository: the signature is what it trusts.
        unsigned = subprocess.run([*ssh, f"echo 'deb {apt['url']} {apt['suite']} main' > /etc/apt/sources.list.d/kmetal-mirror.list; apt-get update -q"],
                                  capture_output=True, text=True, timeout=300)
        assert "NO_PUBKEY" in unsigned.stdout + unsigned.stderr or "not signed" in unsigned.stdout + unsigned.stderr, unsigned.stdout + unsigned.stderr
    finally:
        lab(mirror_env, "mirror", "down", check=False)
        subprocess.run([str(REPO / "bin" / "lab"), "hosts", "down", "--prefix", "mirror"], capture_output=True, text=True, timeout=600)
