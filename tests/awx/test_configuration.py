"""Configuration as code: awx/configure.yml runs end to end with stand-ins for infra.aap_configuration's dispatch role
(it writes what each controller_* role would get) and awx.awx.controller_meta, since neither collection can be
installed here and no AWX runs here. What the roles would get is then checked: every reference resolves, the
kubeconfig credential type injects a file as K8S_AUTH_KUBECONFIG, the workflow chains site.yml's stages."""

import json
import re

import pytest
import yaml
from awx_helpers import AWX, COLLECTION, REPO, VENV_BIN, ansible_env, load_yaml, run

DISPATCH = """---
- name: Stand-in dispatch | what each infra.aap_configuration role would be given
  ansible.builtin.copy:
    dest: "{{ kmetal_test_out }}/{{ '%02d' % index }}-{{ item.role }}.json"
    content: "{{ lookup('ansible.builtin.vars', item.var) | to_nice_json }}"
    mode: "0600"
  loop: "{{ aap_configuration_dispatcher_roles }}"
  loop_control:
    index_var: index
  when: lookup('ansible.builtin.vars', item.var, default=None) is not none
"""
META = '''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
spec = dict(controller_host=dict(), controller_username=dict(), controller_password=dict(no_log=True),
            controller_oauthtoken=dict(no_log=True), validate_certs=dict(type="bool"))
m = AnsibleModule(argument_spec=spec, supports_check_mode=True)
m.exit_json(changed=False, version="24.6.1", prefix="awx", host=m.params["controller_host"])
'''
SECRETS = {"kmetal_awx_ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n",
           "kmetal_awx_kubeconfig": "apiVersion: v1\nkind: Config\n"}


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    role = root / "ansible_collections" / "infra" / "aap_configuration" / "roles" / "dispatch" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text(DISPATCH)
    module = root / "ansible_collections" / "awx" / "awx" / "plugins" / "modules"
    module.mkdir(parents=True)
    (module / "controller_meta.py").write_text(META)
    return root


def configure(stand_ins, tmp_path, secrets=True, extra=()):
    out = tmp_path / "given"
    out.mkdir(exist_ok=True)
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH="%s:%s" % (stand_ins, REPO / "collections"), CONTROLLER_HOST="https://awx.invalid",
                      CONTROLLER_OAUTH_TOKEN="stand-in")
    args = [VENV_BIN / "ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python"),
            "-e", "kmetal_test_out=%s" % out, *extra]
    if secrets:
        (tmp_path / "secrets.json").write_text(json.dumps(SECRETS))
        args += ["-e", "@%s" % (tmp_path / "secrets.json")]
    proc = run([*args, AWX / "configure.yml"], env=env, check=False)
    # in the order the dispatch role ran them
    return proc, {p.stem.split("-", 1)[1]: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


@pytest.fixture(scope="module")
def given(stand_ins, tmp_path_factory):
    proc, data = configure(stand_ins, tmp_path_factory.mktemp("configure"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return data


def test_syntax_check_with_the_stand_ins(stand_ins):
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH="%s:%s" % (stand_ins, REPO / "collections"))
    run([VENV_BIN / "ansible-playbook", "--syntax-check", "-i", "localhost,", AWX / "configure.yml"], env=env)


def test_lint_mocks_the_two_collections():
    lint = load_yaml(REPO / ".ansible-lint")
    assert "infra.aap_configuration.dispatch" in lint["mock_roles"]
    assert "awx.awx.controller_meta" in lint["mock_modules"]
    declared = {c["name"] for c in load_yaml(REPO / "requirements.yml")["collections"]}
    assert {"infra.aap_configuration", "awx.awx"} <= declared


def test_missing_secrets_stop_before_anything_is_sent(stand_ins, tmp_path):
    proc, data = configure(stand_ins, tmp_path, secrets=False)
    assert proc.returncode != 0 and data == {}
    assert "kmetal_awx_ssh_private_key and kmetal_awx_kubeconfig" in proc.stdout


def test_every_object_is_dispatched_in_dependency_order(given):
    assert list(given) == ["controller_organizations", "controller_credential_types", "controller_credentials",
                           "controller_execution_environments", "controller_projects", "controller_inventories",
                           "controller_inventory_sources", "controller_job_templates", "controller_workflow_job_templates"]


def test_kubeconfig_credential_type_injects_a_file(given):
    [ctype] = given["controller_credential_types"]
    assert ctype["injectors"]["file"] == {"template.kubeconfig": "{{ kubeconfig }}"}
    assert ctype["injectors"]["env"] == {"K8S_AUTH_KUBECONFIG": "{{ tower.filename.kubeconfig }}"}
    assert ctype["injectors"]["extra_vars"]["kmetal_kubeconfig"] == "{{ tower.filename.kubeconfig }}"
    assert [f for f in ctype["inputs"]["fields"] if f["id"] == "kubeconfig"][0]["secret"] is True
    creds = {c["name"]: c for c in given["controller_credentials"]}
    assert creds["kMetal under cluster kubeconfig"]["inputs"]["kubeconfig"] == SECRETS["kmetal_awx_kubeconfig"]


def test_references_resolve(given):
    projects = {p["name"] for p in given["controller_projects"]}
    inventories = {i["name"] for i in given["controller_inventories"]}
    creds = {c["name"] for c in given["controller_credentials"]}
    ees = {e["name"] for e in given["controller_execution_environments"]}
    ctypes = {c["name"] for c in given["controller_credential_types"]} | {"Machine"}
    orgs = {o["name"] for o in given["controller_organizations"]}
    assert {c["credential_type"] for c in given["controller_credentials"]} <= ctypes
    for src in given["controller_inventory_sources"]:
        assert src["source_project"] in projects and src["inventory"] in inventories
        assert (REPO / src["source_path"]).is_file(), src["source_path"]
    for jt in given["controller_job_templates"]:
        assert jt["project"] in projects and jt["inventory"] in inventories and jt["execution_environment"] in ees, jt["name"]
        assert set(jt["credentials"]) <= creds and jt["organization"] in orgs, jt["name"]
        assert (REPO / jt["playbook"]).is_file(), jt["playbook"]
    names = {jt["name"] for jt in given["controller_job_templates"]}
    for wf in given["controller_workflow_job_templates"]:
        nodes = {n["identifier"]: n for n in wf["simplified_workflow_nodes"]}
        for node in nodes.values():
            assert node["unified_job_template"] in names
            assert set(node.get("success_nodes", [])) <= set(nodes)


def test_the_job_templates_cover_the_operations(given):
    playbooks = {jt["playbook"].rsplit("/", 1)[-1] for jt in given["controller_job_templates"]}
    assert {"hosts.yml", "under_cluster.yml", "platform.yml", "tenants.yml", "tenant.yml", "tenant_cluster.yml", "scale.yml",
            "upgrade.yml", "backup_etcd.yml"} <= playbooks


def site_stages():
    """The playbooks site.yml runs, in order (kmetal.platform.site imports them)."""
    return [p["ansible.builtin.import_playbook"] for p in load_yaml(COLLECTION / "playbooks" / "site.yml")]


def test_the_workflow_chains_the_stages_like_site_yml(given):
    [wf] = given["controller_workflow_job_templates"]
    nodes = {n["identifier"]: n for n in wf["simplified_workflow_nodes"]}
    templates = {jt["name"]: jt["playbook"] for jt in given["controller_job_templates"]}
    targets = {t for n in nodes.values() for t in n.get("success_nodes", [])}
    [start] = [i for i in nodes if i not in targets]
    chain, node = [], start
    while node:
        chain.append(templates[nodes[node]["unified_job_template"]].rsplit("/", 1)[-1])
        after = nodes[node].get("success_nodes", [])
        assert len(after) <= 1
        node = after[0] if after else None
    assert chain == site_stages()


def test_the_platform_template_finds_the_chart_from_its_playbook(given):
    jt = next(j for j in given["controller_job_templates"] if j["playbook"].endswith("/platform.yml"))
    path = jt["extra_vars"]["kmetal_chart"]["path"]
    assert path.startswith("{{ playbook_dir }}")  # kept for the job's own run, not rendered by configure.yml
    resolved = (REPO / jt["playbook"]).parent / path.replace("{{ playbook_dir }}/", "")
    assert (resolved.resolve() / "Chart.yaml").is_file()


def test_surveyed_templates_keep_their_surveys(given):
    surveyed = {jt["name"]: jt for jt in given["controller_job_templates"] if jt.get("survey_enabled")}
    assert set(surveyed) == {"kMetal | tenant: create or change", "kMetal | tenant cluster: create or resize"}
    for jt in surveyed.values():
        variables = [q["variable"] for q in jt["survey_spec"]["spec"]]
        assert len(variables) == len(set(variables)) and all(re.fullmatch(r"kmetal_[a-z_]+", v) for v in variables)
