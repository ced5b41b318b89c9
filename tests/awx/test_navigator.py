"""ansible-navigator.yml: valid for ansible-navigator, and `ansible-navigator run` uses the execution environment that
execution-environment.yml builds (the image itself cannot be built here: no container engine runs)."""

import json

import yaml
from awx_helpers import REPO, VENV_BIN, ansible_env, load_yaml, run


def test_settings_validate_against_navigators_schema():
    import jsonschema

    schema_path = next(REPO.glob(".venv/lib/python3*/site-packages/ansible_navigator/data/ansible-navigator.json"))
    jsonschema.validate(load_yaml(REPO / "ansible-navigator.yml"), json.loads(schema_path.read_text()))


def test_navigator_runs_in_the_kmetal_execution_environment(tmp_path):
    env = ansible_env(ANSIBLE_NAVIGATOR_CONFIG=str(REPO / "ansible-navigator.yml"), HOME=str(tmp_path))
    # --ee false only for reading the settings: with the EE on, navigator would first pull or inspect the image
    out = run([VENV_BIN / "ansible-navigator", "settings", "--effective", "--ee", "false", "--mode", "stdout"], env=env).stdout
    effective = yaml.safe_load(out[out.index("---"):])["ansible-navigator"]
    ee = effective["execution-environment"]
    tags = load_yaml(REPO / "execution-environment.yml")["options"]["tags"]
    assert ee["image"] in tags
    assert ee["pull"]["policy"] == "missing"
    assert "K8S_AUTH_KUBECONFIG" in ee["environment-variables"]["pass"]
    # the file itself turns the EE on (the command line above only overrides it for this test)
    assert load_yaml(REPO / "ansible-navigator.yml")["ansible-navigator"]["execution-environment"]["enabled"] is True
