"""Surveys cannot drift from the code: every question of a surveyed job template is checked against the module option
it feeds through the playbook the template runs (argument specs read from the modules as they are), and a surveyed
tenant playbook run against the lab API with a bad answer returns the module's own message."""

import json
import os
import uuid

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from awx_helpers import COLLECTION, REPO, VENV_BIN, ansible_env, load_yaml
from surveys import TEXT, module_calls, module_spec, playbook_calls, required_options, surveyed_templates, walk


def machine_sizes():
    """The machineSize enum of the platform's ClusterClass: the chart renders it from the platform role's sizes."""
    defaults = load_yaml(COLLECTION / "roles" / "platform" / "defaults" / "main.yml")
    chart = load_yaml(REPO / "charts" / "kmetal" / "values.yaml")
    assert set(defaults["platform_machine_sizes_builtin"]) == set(chart["tenants"]["machineSizes"])
    return sorted(defaults["platform_machine_sizes_builtin"])


# Options whose valid values are not in the module's argspec but in what it checks against at run time.
CHOICES_ELSEWHERE = {("tenant_cluster", "machine_size"): machine_sizes}

TEMPLATES = surveyed_templates()
IDS = [t["name"] for t in TEMPLATES]


def feeds_of(template):
    calls, play_vars = playbook_calls(template["playbook"])
    assert calls, "%s runs no kmetal.platform module" % template["playbook"]
    feeds = []
    for module, args in module_calls(calls):
        spec, _, _ = module_spec(module)
        walk(args, {"type": "dict", "options": spec}, module, module, feeds)
    return calls, play_vars, feeds


def questions(template):
    return {q["variable"]: q for q in template["survey_spec"]["spec"]}


def test_the_tenant_templates_are_surveyed():
    assert {t["playbook"] for t in TEMPLATES} == {"awx/playbooks/tenant.yml", "awx/playbooks/tenant_cluster.yml"}
    asked = {q["question_name"] for t in TEMPLATES for q in t["survey_spec"]["spec"]}
    assert {"Tenant name", "Tenant admins", "VPC CIDR", "Subnet", "Cluster version", "Machine size", "Workers minimum",
            "Workers maximum"} <= asked


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_question_types_match_the_options(template):
    asked = questions(template)
    _, _, feeds = feeds_of(template)
    used = set()
    for feed in feeds:
        q = asked.get(feed.variable)
        if q is None:
            continue
        used.add(feed.variable)
        where = "%s: question %r feeds %s (%s)" % (template["name"], q["question_name"], feed.path, feed.spec)
        kind, otype = feed.kind, feed.spec.get("type", "str")
        if kind == "composite":
            assert otype in ("str", "raw") and q["type"] in TEXT | {"integer", "multiplechoice"}, where
        elif kind == "split":
            assert otype == "list" and feed.spec.get("elements") == "str" and q["type"] in TEXT, where
        elif q["type"] in TEXT:
            assert otype in ("str", "raw") and "choices" not in feed.spec, where + ": the option has choices: use multiplechoice"
        elif q["type"] == "integer":
            assert otype in ("int", "raw"), where
        elif q["type"] == "float":
            assert otype in ("float", "raw"), where
        elif q["type"] == "multiplechoice":
            assert otype in ("str", "raw"), where
            source = CHOICES_ELSEWHERE.get((feed.module, feed.path.split(".", 1)[1]))
            wanted = feed.spec.get("choices") or (source() if source else None)
            assert wanted is not None, where + ": the option declares no choices to compare with"
            assert sorted(map(str, q["choices"])) == sorted(map(str, wanted)), where
        elif q["type"] == "multiselect":
            assert otype == "list", where
            if "choices" in feed.spec:
                assert sorted(q["choices"]) == sorted(feed.spec["choices"]), where
        else:
            pytest.fail(where + ": unknown survey type %s" % q["type"])
    assert used == set(asked), "%s: questions feeding no option: %s" % (template["name"], sorted(set(asked) - used))


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_a_question_is_required_where_its_option_is(template):
    asked = questions(template)
    calls, _, feeds = feeds_of(template)
    required = {}
    for module, args in module_calls(calls):
        for opt in required_options(module, args):
            required.setdefault(module, set()).add(opt)
    for feed in feeds:
        q = asked.get(feed.variable)
        top = feed.path.split(".")[1].rstrip("[]") if feed.path.count(".") >= 1 else ""
        option_required = feed.spec.get("required") or (feed.path.count(".") == 1 and top in required.get(feed.module, ()))
        if q is not None and option_required and feed.kind != "defaulted":
            assert q["required"], "%s: %r feeds the required %s" % (template["name"], q["question_name"], feed.path)


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_defaults_pass_the_options_validation(template):
    asked = questions(template)
    _, _, feeds = feeds_of(template)
    checked = 0
    for feed in feeds:
        q = asked.get(feed.variable)
        if q is None or "default" not in q or feed.kind == "composite":
            continue
        value = {"integer": int, "float": float}.get(q["type"], str)(q["default"])
        if feed.kind == "split":
            value = value.split()
        if q["type"] == "multiplechoice":
            assert q["default"] in q["choices"], q
        spec = {k: v for k, v in feed.spec.items() if k != "required"}
        result = ArgumentSpecValidator({"answer": spec}).validate({"answer": value})
        assert not result.error_messages, "%s: default %r of %r fails %s: %s" % (template["name"], q["default"], q["question_name"], feed.path,
                                                                                  result.error_messages)
        if q["type"] == "integer":
            assert q.get("min", value) <= value <= q.get("max", value), q
        checked += 1
    assert checked


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_every_required_option_has_a_question_or_a_fixed_extra_var(template):
    asked = questions(template)
    calls, play_vars, feeds = feeds_of(template)
    fixed = set(template.get("extra_vars") or {})
    for module, args in module_calls(calls):
        missing = required_options(module, args) - set(args)
        assert not missing, "%s: %s is called without its required %s" % (template["name"], module, sorted(missing))
    for feed in feeds:
        if feed.kind == "defaulted":
            continue
        assert feed.variable in asked or feed.variable in fixed or feed.variable in play_vars, \
            "%s: %s takes %s, which is neither a question nor a fixed extra var" % (template["name"], feed.path, feed.variable)


# --- against the lab API --------------------------------------------------------------------------------------------

def answers(template, **given):
    """The template's extra vars and its survey's defaults, then GIVEN: what AWX would pass."""
    out = dict(template.get("extra_vars") or {})
    for q in template["survey_spec"]["spec"]:
        if "default" in q:
            out[q["variable"]] = int(q["default"]) if q["type"] == "integer" else q["default"]
    out.update(given)
    return out


def launch(template, tmp_path, lab_api, check=False, **given):
    """ansible-playbook of the template's playbook with the survey's answers, K8S_AUTH_KUBECONFIG set as the kMetal
    kubeconfig credential sets it."""
    extra = tmp_path / ("answers-%s.json" % uuid.uuid4().hex[:6])
    extra.write_text(json.dumps(answers(template, **given)))
    env = ansible_env(K8S_AUTH_KUBECONFIG=str(lab_api.kubeconfig), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python"),
           "-e", "@%s" % extra, str(REPO / template["playbook"])] + (["--check"] if check else [])
    import subprocess

    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        pytest.fail("no JSON from ansible-playbook (rc %s):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return [t["hosts"]["localhost"] for p in doc["plays"] for t in p["tasks"]]


def subnet_module_message(tmp_path, lab_api, name, vpc, cidr):
    """What kmetal.platform.subnet itself answers to subnet NAME in VPC with CIDR (validated before any request)."""
    book = tmp_path / "subnet.yml"
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
        {"name": "subnet", "kmetal.platform.subnet": {"name": name, "vpc": vpc, "cidr": [cidr]}, "ignore_errors": True}]}]))
    env = ansible_env(K8S_AUTH_KUBECONFIG=str(lab_api.kubeconfig), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    import subprocess

    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % (VENV_BIN / "python"),
                           str(book)], capture_output=True, text=True, env=env, cwd=str(REPO), timeout=600)
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result.get("failed"), result
    return result["msg"]


@pytest.fixture
def tenant_name(k8s, platform_datastore):
    from kubernetes import client

    name = "sv-%s" % uuid.uuid4().hex[:6]
    yield name
    custom = client.CustomObjectsApi(k8s)
    for group, version, plural, obj, ns in [("cluster.x-k8s.io", "v1beta2", "clusters", "prod", "tenant-%s" % name),
                                            ("kubeovn.io", "v1", "subnets", "%s-main" % name, None), ("kubeovn.io", "v1", "vpcs", name, None)]:
        try:
            if ns:
                custom.delete_namespaced_custom_object(group, version, ns, plural, obj)
            else:
                custom.delete_cluster_custom_object(group, version, plural, obj)
        except client.ApiException as err:
            if err.status != 404:
                raise
    try:
        client.CoreV1Api(k8s).delete_namespace("tenant-%s" % name)
    except client.ApiException as err:
        if err.status != 404:
            raise


def by_playbook(path):
    return next(t for t in TEMPLATES if t["playbook"] == path)


def test_surveyed_templates_run_on_the_lab_api_with_their_defaults(tmp_path, lab_api, tenant_name, k8s):
    """The defaults (plus the answers that have none) go through the modules' own validation and reach the API."""
    from kubernetes import client

    tenant = by_playbook("awx/playbooks/tenant.yml")
    first = launch(tenant, tmp_path, lab_api, kmetal_tenant_name=tenant_name, kmetal_tenant_admins="alice@example.com\nbob@example.com")
    assert not first[0].get("failed") and first[0]["changed"] is True, first[0]
    again = launch(tenant, tmp_path, lab_api, kmetal_tenant_name=tenant_name, kmetal_tenant_admins="alice@example.com\nbob@example.com")
    assert again[0]["changed"] is False
    subnet = client.CustomObjectsApi(k8s).get_cluster_custom_object("kubeovn.io", "v1", "subnets", "%s-main" % tenant_name)
    assert subnet["spec"]["cidrBlock"] == answers(tenant)["kmetal_tenant_vpc_cidr"] and subnet["spec"]["vpc"] == tenant_name

    cluster = by_playbook("awx/playbooks/tenant_cluster.yml")
    made = launch(cluster, tmp_path, lab_api, kmetal_tenant_name=tenant_name, kmetal_cluster_address="198.18.100.20")
    assert not made[0].get("failed") and made[0]["changed"] is True, made[0]
    live = client.CustomObjectsApi(k8s).get_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", "tenant-%s" % tenant_name, "clusters", "prod")
    md = live["spec"]["topology"]["workers"]["machineDeployments"][0]
    assert md["metadata"]["annotations"]["cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"] == str(answers(cluster)["kmetal_cluster_workers_max"])
    assert live["spec"]["topology"]["version"] == answers(cluster)["kmetal_cluster_version"]


def test_a_bad_cidr_answer_returns_the_modules_own_message(tmp_path, lab_api, tenant_name, k8s, audit):
    from kubernetes import client

    bad = "10.210.0.300/24"
    template = by_playbook("awx/playbooks/tenant.yml")
    subnet = "%s-%s" % (tenant_name, answers(template)["kmetal_tenant_subnet"])
    expected = subnet_module_message(tmp_path, lab_api, subnet, tenant_name, bad)
    assert bad in expected and "cidr" in expected
    mark = audit.mark()
    result = launch(template, tmp_path, lab_api, kmetal_tenant_name=tenant_name, kmetal_tenant_vpc_cidr=bad)[0]
    assert result.get("failed") is True
    # the survey's job shows the subnet module's own words, with where in the request they apply
    assert expected in result["msg"], "the module's message %r is not in %r" % (expected, result["msg"])
    # refused before any write: nothing of the tenant exists
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(k8s).read_namespace("tenant-%s" % tenant_name)
    assert err.value.status == 404
    writes = [e for e in audit.events(mark) if e["verb"] in ("create", "update", "patch", "delete") and tenant_name in e.get("requestURI", "")]
    assert writes == []
