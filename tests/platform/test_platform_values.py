"""The platform role's values, built from the sample site's inventory, are accepted by the chart: the schema
passes and every public key agrees with its mirror in the sub-charts (templates/checks.yaml), overlay and VLAN."""

import json
import os
import subprocess

import pytest
import yaml

import kmetal_platform_helpers as c

SAMPLE = c.REPO / "inventories" / "sample"


@pytest.fixture(scope="module", autouse=True)
def vendored():
    c.ensure_vendored()


def role_values(tmp_path, **extra) -> dict:
    out = tmp_path / "values.yaml"
    playbook = tmp_path / "values.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "values", "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"inventory_dir": str(SAMPLE)},
        "tasks": [
            {"name": "build", "ansible.builtin.include_role": {"name": "kmetal.platform.platform", "tasks_from": "values.yml"}},
            {"name": "write", "ansible.builtin.copy": {"content": "{{ platform_values | to_nice_yaml }}", "dest": str(out), "mode": "0600"}},
        ]}]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}
    run = subprocess.run(["ansible-playbook", "-i", str(SAMPLE / "hosts.yml"), str(playbook), "-e", json.dumps(extra)],
                         capture_output=True, text=True, env=env, cwd=c.REPO, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return yaml.safe_load(out.read_text())


def test_sample_site_values_render_all_on(tmp_path):
    values = role_values(tmp_path)
    assert values["network"]["kubeOvn"]["tunnelInterface"] == "data.205"
    assert values["kube-ovn"]["masterNodes"] == ["10.10.0.11", "10.10.0.12", "10.10.0.13"]
    assert len(values["chartSource"]["digest"]) == 64
    out = c.template(values).stdout
    docs = c.documents(out, glue_only=True)
    pools = [d for d in docs if d["kind"] == "IPAddressPool"]
    assert pools[0]["spec"]["addresses"] == ["10.10.100.0/24"]
    vlan = next(d for d in docs if d["kind"] == "Vlan")
    assert vlan["spec"] == {"id": 300, "provider": "provider"}


def test_sample_site_values_render_vlan_mode(tmp_path):
    values = role_values(tmp_path, kmetal_networking_mode="vlan", kmetal_tenant_vlan_interface="data")
    assert values["kube-ovn"]["networking"]["networkType"] == "vlan"
    docs = c.documents(c.template(values).stdout, glue_only=True)
    assert [d for d in docs if d["kind"] == "ProviderNetwork" and d["metadata"]["name"] == "tenants"]


def test_sample_site_values_with_flux_hand_over_a_pinned_source_published_at_the_chart_digest(tmp_path):
    components = yaml.safe_load((SAMPLE / "group_vars/all/platform.yml").read_text())["kmetal_platform_components"]
    values = role_values(tmp_path, kmetal_platform_components={**components, "flux": True})
    flux = values["flux"]
    assert flux["enabled"] and flux["reconcile"]  # the values Flux reconciles with keep the HelmRelease
    chart_version = yaml.safe_load((c.CHART / "Chart.yaml").read_text())["version"]
    assert flux["source"]["ref"] == "%s+%s" % (chart_version, values["chartSource"]["digest"][:12])
    assert flux["source"]["url"] == "oci://registry.example.com/kmetal/charts/kmetal" and flux["source"]["kind"] == "OCIRepository"
    docs = c.documents(c.template(values).stdout, glue_only=True)
    assert {"OCIRepository", "HelmRelease"} <= {d["kind"] for d in docs}
