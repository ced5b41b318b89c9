"""A private cgroup subtree per lab host, on a machine whose PID 1 is not systemd (cgroup v1 hierarchies).

With no systemd to ask for a scope, systemd-nspawn leaves a container in the caller's cgroup (shared by every
host) and mounts the v1 controllers read-only, so a kubelet inside fails (`mkdir /sys/fs/cgroup/cpuset/kubepods:
read-only file system`). Each host therefore gets a directory of its own in every hierarchy, below the cgroup of
the process that starts it (limits put on the caller keep applying), and nspawn is started inside it: the host's
cgroup namespace is rooted there, its kubelet sees and manages only its own pods, and teardown removes the whole
subtree (kubepods included).
"""

import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_paths() -> dict:
    """This process's cgroup per hierarchy: {"cpuset": "/", "name=systemd": "/", "": "/" (cgroup2), ...}."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def hierarchies() -> list:
    """(mount point, this process's cgroup directory in it) for every cgroup hierarchy mounted under /sys/fs/cgroup."""
    own = _own_paths()
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mountpoint, fstype, superopts = Path(fields[4]), fields[sep + 1], fields[sep + 3].split(",")
            if fstype not in ("cgroup", "cgroup2") or CGROUP_ROOT not in mountpoint.parents:
                continue
            key = "" if fstype == "cgroup2" else next((o for o in superopts if o in own), None)
            if key is None or not own[key].startswith(fields[3]):
                continue  # a hierarchy this process is not in, or mounted from a subtree that does not hold it
            rel = own[key][len(fields[3]):].strip("/")
            found.append((mountpoint, mountpoint / rel if rel else mountpoint))
    return found


def create(name: str) -> list[str]:
    """Make NAME below this process's cgroup in every hierarchy; returns the directories (to record and remove)."""
    made = []
    for mountpoint, parent in hierarchies():
        cg = parent / name
        cg.mkdir(exist_ok=True)
        made.append(str(cg))
        if (cg / "cpuset.cpus").exists():
            # A new cpuset is empty and takes no process until it has CPUs and memory nodes: the parent's.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (cg / knob).read_text().strip():
                    (cg / knob).write_text((parent / knob).read_text())
            # ... and the cgroups the host's kubelet and runc create below it inherit them.
            (cg / "cgroup.clone_children").write_text("1")
    return made


def enter(dirs: list[str]) -> None:
    """Move the calling process into DIRS (run in the child between fork and exec: nspawn then starts there)."""
    pid = str(os.getpid())
    for cg in dirs:
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(pid)


def _subtree(cg: str) -> list[str]:
    """CG and every cgroup below it, deepest first."""
    return [d for d, _, _ in os.walk(cg, topdown=False)]


def pids(dirs: list[str]) -> set[int]:
    """Every process in DIRS and below."""
    found: set[int] = set()
    for cg in dirs:
        for d in _subtree(cg):
            try:
                found |= {int(p) for p in Path(d, "cgroup.procs").read_text().split()}
            except OSError:
                pass
    return found


def kill(dirs: list[str], timeout: float = 30) -> set[int]:
    """SIGKILL whatever is still in DIRS until they are empty; returns the processes that would not go."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids(dirs)
        if not left or time.monotonic() > deadline:
            return left
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove(dirs: list[str]) -> list[str]:
    """Remove DIRS bottom-up (the host's kubepods and every other cgroup made inside it first); returns what stays."""
    left = []
    for cg in dirs:
        for d in _subtree(cg):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(d)
    return left
