"""Shared helpers of the lab-host tests: start a set of hosts, build an inventory for it, run playbooks."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "bin" / "lab"
VENV_BIN = REPO / ".venv" / "bin"
# The lab's state (hosts, SSH key, binaries): bin/lab's own KMETAL_LAB_DIR, so that a worktree can use a running lab.
LAB_DIR = Path(os.environ.get("KMETAL_LAB_DIR", REPO / ".lab"))


def lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAB), *args], capture_output=True, text=True, timeout=600)


def hosts_up(prefix: str, count: int) -> dict:
    proc = lab("hosts", "up", str(count), "--prefix", prefix)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load((LAB_DIR / "hosts" / f"{prefix}.yml").read_text())


def inventory(tmp: Path, prefix: str, extra_group_vars: dict | None = None) -> Path:
    """The set's inventory with the lab's group_vars (site network model, lab opt-outs, profiles)."""
    inv = tmp / "inventory"
    inv.mkdir()
    shutil.copy(LAB_DIR / "hosts" / f"{prefix}.yml", inv / "hosts.yml")
    shutil.copytree(REPO / "inventories" / "lab" / "group_vars", inv / "group_vars")
    if extra_group_vars:
        # After the lab's kmetal_nodes/hosts.yml (same group, later file wins).
        (inv / "group_vars" / "kmetal_nodes" / "zz-test.yml").write_text(yaml.safe_dump(extra_group_vars))
    return inv


def playbook(inv: Path, play: str | Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
    }
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(play), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO,
    )


def ssh(address: str, command: str) -> subprocess.CompletedProcess:
    key = LAB_DIR / "ssh" / "id_ed25519"
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", f"root@{address}", command],
        capture_output=True, text=True, timeout=120,
    )


def links() -> set[str]:
    return {link["ifname"] for link in json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout)}


def netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


def wait(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def recap(output: str) -> dict:
    """host -> {ok, changed, failed, ...} from ansible-playbook's PLAY RECAP."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, flags=re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out
