"""The execution environment: the collection's own EE metadata is in its artifact and resolves through
`ansible-builder introspect`, and the repo's execution-environment.yml (schema 3) generates a build context offline
(`ansible-builder create`) that installs the collection, its collection dependencies and the controller tools.
Building the image needs a container engine: not done here."""

import re
import subprocess
import tarfile

import pytest
import yaml
from awx_helpers import COLLECTION, REPO, VENV_BIN, load_yaml, run

SITE = REPO / ".venv" / "lib"
# The context stages helm, kubectl and kubeadm from the lab's build cache (`make binaries`): these run with the lab tests.
pytestmark = pytest.mark.lab


def venv_collections():
    found = sorted(SITE.glob("python3*/site-packages/ansible_collections"))
    assert found, "no ansible_collections in the repo venv's site-packages: run make venv"
    return found[0]


@pytest.fixture(scope="module")
def context():
    """scripts/ee-context.sh: the tarball and the tools staged, then `ansible-builder create` into build/ee/context."""
    run([REPO / "scripts" / "ee-context.sh"], timeout=900)
    return REPO / "build" / "ee" / "context"


def test_definition_is_schema_3_with_the_collection_and_its_dependencies(galaxy):
    ee = load_yaml(REPO / "execution-environment.yml")
    assert ee["version"] == 3
    wanted = ee["dependencies"]["galaxy"]["collections"]
    by_name = {c["name"]: c for c in wanted}
    assert by_name["kmetal-platform.tar.gz"]["type"] == "file"
    # the collection dependencies are galaxy.yml's, with the same ranges
    assert {n: c["version"] for n, c in by_name.items() if "version" in c} == galaxy["dependencies"]


def test_the_collection_ships_its_ee_metadata_in_the_artifact(context, galaxy):
    with tarfile.open(context / "_build" / "kmetal-platform.tar.gz") as tar:
        names = set(tar.getnames())
        manifest = yaml.safe_load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt", "meta/runtime.yml"} <= names
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == ("kmetal", "platform", galaxy["version"])


def test_introspect_resolves_the_collection_requirements(tmp_path, context):
    """ansible-builder introspect --sanitize over the installed artifact and its dependencies: what the builder
    stage of the image would install."""
    dest = tmp_path / "collections"
    run([VENV_BIN / "ansible-galaxy", "collection", "install", context / "_build" / "kmetal-platform.tar.gz", "--no-deps", "--force", "-p", dest])
    site = venv_collections()
    for dep in load_yaml(COLLECTION / "galaxy.yml")["dependencies"]:
        ns, name = dep.split(".")
        (dest / "ansible_collections" / ns).mkdir(parents=True, exist_ok=True)
        (dest / "ansible_collections" / ns / name).symlink_to(site / ns / name)
    out = run([VENV_BIN / "ansible-builder", "introspect", "--sanitize", dest,
               "--write-pip", tmp_path / "requirements.txt", "--write-bindep", tmp_path / "bindep.txt"]).stdout
    data = yaml.safe_load(out[out.index("---"):])
    ours = {re.split(r"[<>=! ]", line)[0] for line in data["python"] if line.endswith("from collection kmetal.platform")}
    assert ours, out
    # PyYAML is left out by the builder: ansible-core brings it
    assert ours == {"kubernetes", "urllib3", "netaddr"}
    assert "openssh-clients [platform:rpm]  # from collection kmetal.platform" in data["system"]
    assert any(line.startswith("kubernetes>=24.2.0") for line in data["python"]), "kubernetes.core's requirements are missing"
    assert "openssh-clients [platform:rpm]" in (tmp_path / "bindep.txt").read_text()


def test_create_generates_the_context(context, galaxy):
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "introspect.py introspect" in containerfile  # the collections' meta/execution-environment.yml is read at build
    assert "COPY _build/tools/helm _build/tools/kubectl _build/tools/kubeadm /usr/local/bin/" in containerfile
    requirements = load_yaml(context / "_build" / "requirements.yml")["collections"]
    assert [c["name"] for c in requirements] == ["kmetal-platform.tar.gz", "kubernetes.core", "ansible.utils"]
    for tool in ("helm", "kubectl", "kubeadm"):
        assert (context / "_build" / "tools" / tool).stat().st_mode & 0o111


def test_the_file_requirement_installs_from_the_context_as_the_galaxy_stage_does(tmp_path, context, galaxy):
    """The galaxy stage runs `ansible-galaxy collection install -r requirements.yml` in /build (the context's _build):
    the file entry must resolve there. Galaxy is unreachable here, so only the file entry is installed."""
    reqs = load_yaml(context / "_build" / "requirements.yml")
    local = {"collections": [c for c in reqs["collections"] if c.get("type") == "file"]}
    (tmp_path / "local.yml").write_text(yaml.safe_dump(local))
    run([VENV_BIN / "ansible-galaxy", "collection", "install", "--no-deps", "--force", "-r", tmp_path / "local.yml", "-p", tmp_path / "out"],
        cwd=str(context / "_build"))
    manifest = load_yaml(tmp_path / "out" / "ansible_collections" / "kmetal" / "platform" / "MANIFEST.json")
    assert manifest["collection_info"]["version"] == galaxy["version"]


@pytest.mark.parametrize("tool,args,expect", [("helm", ["version", "--short"], "v3."), ("kubectl", ["version", "--client"], "Client Version: v1."),
                                              ("kubeadm", ["version", "-o", "short"], "v1.")])
def test_staged_tools_run(context, tool, args, expect):
    out = subprocess.run([str(context / "_build" / "tools" / tool), *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and expect in out.stdout, out.stderr

