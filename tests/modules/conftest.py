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
USER_AGENT = "kmetal.platform"


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


def module_events(audit, mark):
    """The requests the collection's modules sent since MARK (their User-Agent tells them from other clients')."""
    return [e for e in audit.events(mark) if e.get("userAgent", "").startswith(USER_AGENT)]


@pytest.fixture
def play(lab_api, audit, tmp_path):
    """play(tasks, check=False, diff=True, kubeconfig=None, background=False): run TASKS in one playbook on localhost."""

    def run(tasks, check=False, diff=True, kubeconfig=None, background=False, timeout=300):
        book = [{
            "name": "kmetal.platform modules under test",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "module_defaults": {"group/kmetal.platform.k8s": {"kubeconfig": str(kubeconfig or lab_api.kubeconfig)}},
            "tasks": tasks,
        }]
        path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:6])
        path.write_text(yaml.safe_dump(book, sort_keys=False))
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(path)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_NOCOLOR="1")
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
            results = [task["hosts"].get("localhost", {}) for p in doc["plays"] for task in p["tasks"]]
            return Play(results, out, seconds, module_events(audit, mark))

        return finish if background else finish()

    return run


@pytest.fixture
def uniq():
    """A short suffix that keeps this test's cluster-scoped objects (VPCs, subnets) apart from everyone else's."""
    return uuid.uuid4().hex[:6]

