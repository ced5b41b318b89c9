"""The collection artifact: `ansible-galaxy collection build` holds exactly what belongs in it, galaxy.yml declares
only the collections the code uses, and the tarball installed into a fresh venv outside the repo runs by FQCN
(a module against the lab API, a role in check mode), which catches a file missing from the artifact."""

import json
import os
import re
import subprocess
import sys
import tarfile
import uuid

import pytest
import yaml
from awx_helpers import COLLECTION, REPO, VENV_BIN, load_yaml, run

# What may be in the repo's collection directory but never in the artifact.
NOT_SHIPPED = re.compile(r"^(tests/|galaxy\.yml$|changelogs/\.plugin-cache\.yaml$)|(^|/)__pycache__/|\.pyc$")
FQCN = re.compile(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\b")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact")
    run([VENV_BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out, COLLECTION])
    built = list(out.glob("kmetal-platform-*.tar.gz"))
    assert len(built) == 1
    return built[0]


def shipped(tar_path):
    with tarfile.open(tar_path) as tar:
        return {m.name for m in tar.getmembers() if m.isfile()}


def test_artifact_holds_exactly_the_tracked_collection_files(tarball):
    tracked = subprocess.run(["git", "ls-files"], cwd=COLLECTION, capture_output=True, text=True, check=True).stdout.split()
    wanted = {f for f in tracked if not NOT_SHIPPED.search(f)}
    got = shipped(tarball) - {"MANIFEST.json", "FILES.json"}
    assert got == wanted, {"missing": sorted(wanted - got), "extra": sorted(got - wanted)}
    # and what ansible-builder reads from an installed collection is in
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt", "CHANGELOG.rst"} <= got


def used_collections():
    """The collections the roles, playbooks and plugins call by FQCN (modules, filters, lookups, tests)."""
    used = set()
    for path in COLLECTION.rglob("*"):
        rel = path.relative_to(COLLECTION).as_posix()
        if not path.is_file() or NOT_SHIPPED.search(rel) or not rel.startswith(("roles/", "playbooks/", "plugins/", "meta/")):
            continue
        if path.suffix not in (".yml", ".yaml", ".j2", ".py"):
            continue
        text = path.read_text()
        if path.suffix == ".py":
            # Python imports (kubernetes.config, the client library) are not collections.
            text = "\n".join(line for line in text.splitlines() if not re.match(r"\s*(from|import)\s", line))
        for m in FQCN.finditer(text):
            ns, name, _ = m.groups()
            if (ns, name) in {("ansible", "builtin"), ("kmetal", "platform"), ("ansible", "module_utils"), ("ansible", "legacy")}:
                continue
            if ns in {"kubernetes", "ansible", "community", "cisco", "containers", "awx", "infra"}:
                used.add("%s.%s" % (ns, name))
    return used


def test_galaxy_declares_exactly_the_collections_the_code_uses(galaxy):
    assert set(galaxy["dependencies"]) == used_collections()
    # requirements.yml at the repo root declares the same ranges
    root = {c["name"]: c["version"] for c in load_yaml(REPO / "requirements.yml")["collections"]}
    assert {k: root[k] for k in galaxy["dependencies"]} == galaxy["dependencies"]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, tarball):
    """A venv outside the repo with ansible-core (the repo venv's version) and the requirements.txt the artifact
    ships; the collection installed from the tarball; its collection dependencies from the repo venv's
    site-packages (Galaxy is unreachable here)."""
    import ansible.release

    home = tmp_path_factory.mktemp("fresh")
    assert REPO not in home.parents
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    dest = home / "collections"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "K8S_AUTH_"))}
    env.update(HOME=str(home), ANSIBLE_NOCOLOR="1")
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "ansible-core==%s" % ansible.release.__version__], env=env, cwd=str(home), timeout=900)
    run([venv / "bin" / "ansible-galaxy", "collection", "install", tarball, "--no-deps", "-p", dest], env=env, cwd=str(home))
    installed = dest / "ansible_collections" / "kmetal" / "platform"
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-r", installed / "requirements.txt"], env=env, cwd=str(home), timeout=900)
    site = next(REPO.glob(".venv/lib/python3*/site-packages"))
    env.update(ANSIBLE_COLLECTIONS_PATH="%s:%s" % (dest, site), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOCALHOST_WARNING="false", PATH="%s:%s:%s" % (venv / "bin", REPO / ".lab" / "bin", os.environ["PATH"]))
    listed = run([venv / "bin" / "ansible-galaxy", "collection", "list", "kmetal.platform", "--format", "json"], env=env, cwd=str(home)).stdout
    assert list(json.loads(listed)) == [str(dest / "ansible_collections")], "kmetal.platform must come from the artifact only"
    return venv, home, env


def play(fresh, book, *args, check_rc=True):
    venv, home, env = fresh
    path = home / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    proc = run([venv / "bin" / "ansible-playbook", *args, path], env=env, cwd=str(home), check=False, timeout=600)
    if check_rc and proc.returncode != 0:
        pytest.fail("ansible-playbook exited %s:\n%s\n%s" % (proc.returncode, proc.stdout[-4000:], proc.stderr[-3000:]), pytrace=False)
    return json.loads(proc.stdout)


def test_installed_module_runs_against_the_lab_api(fresh, lab_api, k8s):
    from kubernetes import client

    name = "art-%s" % uuid.uuid4().hex[:6]
    book = [{"name": "kmetal.platform from its artifact", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
             "module_defaults": {"group/kmetal.platform.k8s": {"kubeconfig": str(lab_api.kubeconfig)}},
             "tasks": [{"name": "tenant", "kmetal.platform.tenant": {"name": name, "quota": {"cpu": "4"}}},
                       {"name": "tenant again", "kmetal.platform.tenant": {"name": name, "quota": {"cpu": "4"}}},
                       {"name": "listing", "kmetal.platform.tenant_info": {"name": name}}]}]
    try:
        doc = play(fresh, book, "-i", "localhost,")
        create, again, info = [t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]]
        assert create["changed"] is True and again["changed"] is False
        assert [t["name"] for t in info["tenants"]] == [name]
        assert client.CoreV1Api(k8s).read_namespace("tenant-%s" % name).metadata.labels["kmetal.io/tenant"] == name
    finally:
        try:
            client.CoreV1Api(k8s).delete_namespace("tenant-%s" % name)
        except client.ApiException as err:
            if err.status != 404:
                raise


def test_installed_role_runs_in_check_mode_on_localhost(fresh, lab_api):
    """kmetal.platform.platform (the platform role, on localhost against the lab API) in check mode: the role's
    tasks, templates and vars all come from the artifact; check mode predicts and writes nothing."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(lab_api.kubeconfig))
    before = {s.metadata.name for s in client.CoreV1Api(api).list_secret_for_all_namespaces(label_selector="owner=helm").items}
    # the lab inventory's platform is the under cluster's: here the lab API, with the sub-charts off (it runs no pods)
    lab_api_platform = {"kmetal_kubeconfig": str(lab_api.kubeconfig), "platform_wait": False, "kmetal_platform_dry_run_only": {},
                        "kmetal_platform_crd_files": [], "kmetal_platform_components": {
                            "flannel": False, "kube_ovn": False, "multus": True, "metallb": False, "kubevirt": True, "cdi": True,
                            "kamaji": False, "capi": False, "cert_manager": False, "local_path": False, "flux": False,
                            "glue": {"cluster_class": True, "data_store": True, "metallb_pools": True, "capi_providers": True,
                                     "cluster_issuer": True, "cluster_role": True, "provider_network": True, "kamaji_addon_ovn": True}}}
    doc = play(fresh, [{"name": "Platform from the artifact", "ansible.builtin.import_playbook": "kmetal.platform.platform"}],
               "-i", REPO / "inventories" / "lab" / "hosts.yml", "--check", "-e", json.dumps(lab_api_platform))
    stats = doc["stats"]["localhost"]
    assert stats["failures"] == 0 and stats["unreachable"] == 0 and stats["ok"] > 5
    names = [t["task"]["name"] for p in doc["plays"] for t in p["tasks"]]
    assert any(n.startswith("kmetal.platform.platform : Platform | install") for n in names), names
    after = {s.metadata.name for s in client.CoreV1Api(api).list_secret_for_all_namespaces(label_selector="owner=helm").items}
    assert after == before, "check mode installed a Helm release"
