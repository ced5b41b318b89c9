"""container_runtime's hosts.toml as the role renders it (its template and defaults through ansible-playbook),
read back with a TOML parser: per upstream registry, the site mirror is the only server, addressed at its API
root (override_path) with the mirror CA, and nothing falls back to the internet (review B3)."""

import json
import os
import subprocess
import tomllib

import kmetal_platform_helpers as c

ROLE = c.REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "roles" / "container_runtime"


def render(tmp_path, extra: dict) -> dict:
    out = tmp_path / "rendered.json"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.include_vars": {"file": str(ROLE / "defaults" / "main.yml")}}, None]}]
    # Render each registry's file with the role's own template.
    play[0]["tasks"][1] = {"ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": (
        "{% set files = {} %}{% for item in container_runtime_registries %}"
        "{% set _ = files.update({item.name: lookup('ansible.builtin.template', '" + str(ROLE / "templates" / "hosts.toml.j2")
        + "', template_vars={'item': item})}) %}{% endfor %}{{ files | to_json }}")}}
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(c.REPO / "ansible.cfg")}
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(path), "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=env, cwd=c.REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return {name: tomllib.loads(text) for name, text in json.loads(out.read_text()).items()}


def test_site_mirrors_are_the_only_server_at_their_api_root(tmp_path):
    files = render(tmp_path, {"kmetal_registry_mirrors": {"registry.k8s.io": "https://198.18.0.1:5000", "docker.io": "https://198.18.0.1:5000/"},
                              "kmetal_mirror_ca_pem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----"})
    assert set(files) == {"registry.k8s.io", "docker.io"}
    for name, conf in files.items():
        assert conf["server"] == f"https://198.18.0.1:5000/v2/{name}"
        assert conf["override_path"] is True
        assert conf["ca"] == f"/etc/containerd/certs.d/{name}/ca.crt"
        # The mirror is the only host too (containerd 1.6 needs a host table): nothing else to try, no upstream.
        assert conf["host"] == {conf["server"]: {"capabilities": ["pull", "resolve"], "override_path": True,
                                                 "ca": f"/etc/containerd/certs.d/{name}/ca.crt"}}


def test_the_samples_explicit_mirrors_get_override_path_and_no_fallback(tmp_path):
    files = render(tmp_path, {"container_runtime_registries": [
        {"name": "quay.io", "mirrors": ["https://registry.example.net:5000/v2/quay.io"], "mirror_only": True},
        {"name": "ghcr.io", "mirrors": ["https://m1.example:5000"]},
    ]})
    mirror = "https://registry.example.net:5000/v2/quay.io"
    assert files["quay.io"] == {"server": mirror, "capabilities": ["pull", "resolve"], "override_path": True,
                                "host": {mirror: {"capabilities": ["pull", "resolve"], "override_path": True}}}
    # Not mirror-only: upstream stays the server, the mirror (no path: containerd appends /v2 itself) is tried first.
    assert files["ghcr.io"]["server"] == "https://ghcr.io"
    assert files["ghcr.io"]["host"] == {"https://m1.example:5000": {"capabilities": ["pull", "resolve"]}}
