"""Run the collection's modules the way users do: ansible-playbook, against the lab API, results read as JSON."""

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"


class Play:
    """One ansible-playbook run: the per-task results in order, the writes the modules sent, and how long it took."""

    def __init__(self, results, stdout, seconds, events):
        self.results = results
        self.stdout = stdout
        self.seconds = seconds
        self.events = events

    def __getitem__(self, index):
        return self.results[index]

    @property
    def writes(self):
        return [e for e in self.events if e["verb"] in ("create", "update", "patch", "delete", "deletecollection")
                and "dryRun=All" not in e.get("requestURI", "")]

    @property
    def requests(self):
        return len(self.events)


@pytest.fixture(scope="session")
def module_identity(lab_api, tmp_path_factory):
    """A kubeconfig of a user of this test session's own (a client certificate from the lab CA, in system:masters):
    the audit log then tells this session's module requests from everyone else's on the shared lab API."""
    from kmetal_lab import pki

    user = "kmetal-modtest-%s" % uuid.uuid4().hex[:8]
    ca = pki.CA(Path(lab_api.ca_cert).parent)  # loads the lab CA, creates nothing there
    ca.dir = tmp_path_factory.mktemp("pki")
    crt, key = ca.issue("modtest", user, org="system:masters", client=True)
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "modtest",
        "clusters": [{"name": "lab", "cluster": {"server": lab_api.server, "certificate-authority": str(lab_api.ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "modtest", "context": {"cluster": "lab", "user": user}}],
    }
    path = ca.dir / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return user, path


def module_events(audit, mark, user):
    """The requests this session's modules sent since MARK."""
    return audit.events(mark, user=user)


@pytest.fixture
def play(lab_api, audit, tmp_path, module_identity, platform_datastore):
    """play(tasks, check=False, diff=True, kubeconfig=None, background=False): run TASKS in one playbook on localhost."""

    def run(tasks, check=False, diff=True, kubeconfig=None, background=False, timeout=300, hosts=None):
        """HOSTS: {name: vars} runs TASKS on that many local hosts in parallel (forks); results are then per
        task a {host: result} mapping."""
        book = [{
            "name": "kmetal.platform modules under test",
            "hosts": "all" if hosts else "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "module_defaults": {"group/kmetal.platform.k8s": {"kubeconfig": str(kubeconfig or module_identity[1])}},
            "tasks": tasks,
        }]
        path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:6])
        path.write_text(yaml.safe_dump(book, sort_keys=False))
        inventory = "localhost,"
        if hosts:
            inventory = str(tmp_path / ("hosts-%s.yml" % uuid.uuid4().hex[:6]))
            Path(inventory).write_text(yaml.safe_dump({"all": {"hosts": {h: dict(v, ansible_connection="local") for h, v in hosts.items()}}}))
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", inventory, str(path)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS=str(min(len(hosts or ()) or 1, 16)))
        for key in [k for k in env if k.startswith("K8S_AUTH_")]:
            del env[key]
        mark = audit.mark()
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def finish():
            out, err = proc.communicate(timeout=timeout)
            seconds = time.monotonic() - start
            try:
                doc = json.loads(out)
            except ValueError:
                pytest.fail("ansible-playbook printed no JSON (rc %s):\n%s\n%s" % (proc.returncode, out[-3000:], err[-3000:]))
            if hosts:
                results = [task["hosts"] for p in doc["plays"] for task in p["tasks"]]
            else:
                results = [task["hosts"].get("localhost", {}) for p in doc["plays"] for task in p["tasks"]]
            return Play(results, out, seconds, module_events(audit, mark, module_identity[0]))

        return finish if background else finish()

    return run


@pytest.fixture
def uniq():
    """A short suffix that keeps this test's cluster-scoped objects (VPCs, subnets) apart from everyone else's."""
    return uuid.uuid4().hex[:6]

