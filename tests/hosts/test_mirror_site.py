"""The lab as an air-gapped site: a lab host configured by the product's own roles (host_prep's apt mirror and
trust store, container_runtime's registry mirrors) pulls every image of the lab's artifact manifest with containerd
from the lab mirror and fetches every file with its checksum; nothing it asks the mirror for is outside the
manifest, and an image the mirror lacks fails naming the mirror instead of falling back to the internet."""

import json
import re

import pytest
import yaml

from helpers import REPO, hosts_up, inventory, lab, playbook, ssh

MIRROR_DIR = REPO / ".lab" / "mirror"
PREFIX = "t-mirror"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    was_running = lab("mirror", "status").returncode == 0
    up = lab("mirror", "up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    manifest = json.loads((MIRROR_DIR / "manifest.json").read_text())
    # The mirror's logs outlive a run: this run's requests are those after these offsets.
    offsets = {log: (MIRROR_DIR / "logs" / log).stat().st_size for log in ("access.log", "registry.log")}
    site_vars = yaml.safe_load((MIRROR_DIR / "site-vars.yml").read_text())
    inv = hosts_up(PREFIX, 1)
    address = inv["all"]["children"]["kmetal_nodes"]["children"]
    address = [h["ansible_host"] for g in address.values() for h in (g["hosts"] or {}).values()][0]
    path = inventory(tmp_path_factory.mktemp("mirror"), PREFIX)
    play = path.parent / "runtime.yml"
    play.write_text(yaml.safe_dump([{"name": "Air-gapped runtime", "hosts": "kmetal_nodes", "gather_facts": False,
                                     "roles": ["kmetal.platform.host_prep", "kmetal.platform.container_runtime"]}]))
    run = playbook(path, play, "--tags", "host_prep:facts,host_prep:apt_sources,container_runtime")
    assert run.returncode == 0, run.stdout[-4000:]
    yield {"manifest": manifest, "vars": site_vars, "address": address, "offsets": offsets}
    lab("hosts", "down", "--prefix", PREFIX)
    if not was_running:
        lab("mirror", "down")


def _containerd_images(site) -> list:
    return [i for i in site["manifest"]["images"] if i.get("pulled_by", "containerd") == "containerd"]


def test_every_manifest_image_pulls_on_a_lab_host_from_the_mirror(site):
    refs = [i["ref"] for i in _containerd_images(site)]
    assert refs, "the lab manifest lists no image"
    failed = {}
    for ref in refs:
        pull = ssh(site["address"], f"ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d {ref} >/dev/null")
        if pull.returncode != 0:
            failed[ref] = pull.stderr.strip()[-300:]
    assert not failed, failed
    listed = ssh(site["address"], "ctr -n k8s.io images ls -q").stdout.split()
    # Nothing in containerd that the manifest does not name (content-addressed aliases aside).
    assert sorted({r for r in listed if not r.startswith("sha256:")}) == sorted(set(refs))
    print(f"\n{len(refs)} images pulled from the lab mirror")


def test_every_manifest_file_fetches_from_the_mirror_with_its_checksum(site):
    sums = site["vars"]["kmetal_download_checksums"]
    bad = {}
    for item in site["manifest"]["files"]:
        expected = (sums.get(item["name"]) or {}).get(item["arch"], {}).get(item["version"], "")
        # The host trusts the mirror through the CA host_prep put in its trust store (Python's default context reads
        # it: no CA given here). A fresh server has python3 but no curl.
        fetch = f"python3 -c 'import urllib.request,sys; sys.stdout.buffer.write(urllib.request.urlopen(\"{item['url']}\").read())'"
        got = ssh(site["address"], f"set -o pipefail; {fetch} | sha256sum").stdout.split()
        if not expected or not got or f"sha256:{got[0]}" != expected:
            bad[item["url"]] = (expected, got[:1])
    assert not bad, bad


def test_nothing_is_requested_from_the_mirror_that_the_manifest_does_not_list(site):
    # Runs after the pulls and fetches above (pytest keeps file order).
    files = {f"/files/{f['base']}/{f['path']}" for f in site["manifest"]["files"]}
    def since_start(log):
        with open(MIRROR_DIR / "logs" / log) as f:
            f.seek(site["offsets"][log])
            return f.read()

    access = [json.loads(line) for line in since_start("access.log").splitlines() if line.strip()]
    fetched = {a["path"] for a in access if a["path"].startswith("/files/")}
    assert fetched and fetched <= files, sorted(fetched - files)
    repos = {i["ref"].rsplit(":", 1)[0] for i in site["manifest"]["images"]}
    log = since_start("registry.log")
    asked = set(re.findall(r'"(?:GET|HEAD) /v2/(.+?)/(?:manifests|blobs)/', log))
    assert asked and asked <= repos, sorted(asked - repos)


def test_an_image_the_mirror_lacks_fails_naming_the_mirror_with_no_fallback(site):
    log = MIRROR_DIR / "logs" / "registry.log"
    offset = log.stat().st_size
    pull = ssh(site["address"], "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry.k8s.io/kmetal-absent:v0")
    assert pull.returncode != 0
    # containerd 2's ctr names only the image; the mirror's log shows it was asked, and "not found" (not a
    # connection error to registry.k8s.io, which the lab hosts cannot reach) shows nothing else was.
    assert "kmetal-absent" in pull.stderr and "not found" in pull.stderr, pull.stderr
    assert not re.search(r"no such host|dial tcp|registry\.k8s\.io/v2", pull.stderr), pull.stderr
    with open(log) as f:
        f.seek(offset)
        asked = re.findall(r'"(?:GET|HEAD) /v2/registry\.k8s\.io/kmetal-absent/manifests/v0\?ns=registry\.k8s\.io HTTP/[\d.]+" 404', f.read())
    assert asked, "the mirror was not asked for registry.k8s.io/kmetal-absent:v0"
