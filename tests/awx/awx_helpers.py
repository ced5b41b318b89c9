"""Shared paths and helpers of the AWX / Automation Platform tests (artifact, execution environment, configuration
as code, surveys, tags). A module of its own name: several conftest.py files live side by side in tests/."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "collections" / "ansible_collections" / "kmetal" / "platform"
VENV_BIN = REPO / ".venv" / "bin"
AWX = REPO / "awx"


def ansible_env(**extra):
    """The environment the repo's ansible commands run with (ansible.cfg of the repo, no K8S_AUTH_* leaking in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_")}
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               PATH=f"{REPO / '.lab' / 'bin'}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    env.update(extra)
    return env


def run(cmd, timeout=600, check=True, **kwargs):
    """Run CMD; on failure the test fails with the command's output (never a bare CalledProcessError)."""
    kwargs.setdefault("env", ansible_env())
    kwargs.setdefault("cwd", str(REPO))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        pytest.fail("%s exited %s:\n%s\n%s" % (" ".join(map(str, cmd)), proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]),
                    pytrace=False)
    return proc


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())
