"""`lab up/down/status` on a lab of its own (its own state directory and ports), so the shared lab is untouched."""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from kmetal_lab import paths

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def own_lab(tmp_path, lab_api):
    """Environment for a second, private lab; whatever it started is stopped afterwards."""
    env = dict(os.environ, KMETAL_LAB_DIR=str(tmp_path / "lab"), KMETAL_BIN=str(paths.bin_dir()))
    env.pop("KMETAL_LAB_API_PORT", None)
    yield env
    subprocess.run([str(REPO / "bin" / "lab"), "down"], env=env, capture_output=True, check=False)


def lab(env, *args, check=True):
    result = subprocess.run([str(REPO / "bin" / "lab"), *args], env=env, capture_output=True, text=True, timeout=180, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"lab {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def state(env):
    return json.loads((Path(env["KMETAL_LAB_DIR"]) / "state.json").read_text())


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"


def test_up_twice_reuses_the_running_lab_and_down_leaves_nothing(own_lab):
    lab(own_lab, "up", "--no-crds")
    first = state(own_lab)["pids"]
    second = lab(own_lab, "up", "--no-crds")
    assert "reusing the running lab API" in second.stderr + second.stdout
    assert state(own_lab)["pids"] == first
    assert lab(own_lab, "status").returncode == 0

    lab(own_lab, "down")
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in first.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [name for name, pid in first.items() if alive(pid)] == []
    assert not (Path(own_lab["KMETAL_LAB_DIR"]) / "state.json").exists()
    assert lab(own_lab, "status", check=False).returncode == 3
    assert "nothing is running" in lab(own_lab, "down").stdout


def test_half_started_lab_is_cleaned_up_and_restarted(own_lab):
    lab(own_lab, "up", "--no-crds")
    before = state(own_lab)["pids"]
    os.kill(before["kube-apiserver"], signal.SIGKILL)
    assert lab(own_lab, "status", check=False).returncode == 3
    again = lab(own_lab, "up", "--no-crds")
    assert "half-started" in again.stdout + again.stderr
    after = state(own_lab)["pids"]
    assert after["kube-apiserver"] != before["kube-apiserver"]
    assert not alive(before["etcd"]), "the old etcd of the half-started lab was left running"
    assert lab(own_lab, "status").returncode == 0


def test_stale_pid_file_never_kills_a_foreign_process(own_lab):
    """A state file whose PIDs now belong to other processes: they are left alone and a new lab starts."""
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        lab_dir = Path(own_lab["KMETAL_LAB_DIR"])
        lab_dir.mkdir(parents=True)
        (lab_dir / "state.json").write_text(json.dumps({"server": "https://127.0.0.1:1", "ports": {}, "pids": {name: sleeper.pid for name in ("etcd", "kube-apiserver", "kube-controller-manager")}}))
        lab(own_lab, "up", "--no-crds")
        assert sleeper.poll() is None, "lab killed a process it had not started"
    finally:
        sleeper.kill()


def test_taken_port_gets_a_clear_message_and_starts_nothing(own_lab):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = lab(dict(own_lab, KMETAL_LAB_API_PORT=str(port)), "up", "--no-crds", check=False)
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert not (Path(own_lab["KMETAL_LAB_DIR"]) / "state.json").exists()


def test_missing_binary_says_how_to_build_it(own_lab, tmp_path):
    empty = tmp_path / "nobin"
    empty.mkdir()
    result = lab(dict(own_lab, KMETAL_BIN=str(empty)), "up", "--no-crds", check=False)
    assert result.returncode == 1
    assert "is not built yet: run `make binaries`" in result.stderr
