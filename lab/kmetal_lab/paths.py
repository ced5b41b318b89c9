"""Where the lab keeps its caches and its running state, and which binaries it uses."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB_SRC = REPO / "lab"


def cache_dir() -> Path:
    """Heavy, reusable builds (binaries, CRD modules, root filesystems): outside the clone so clones share them."""
    return Path(os.environ.get("KMETAL_CACHE", Path.home() / ".cache" / "kmetal"))


def lab_dir() -> Path:
    """The running lab's state: certificates, data, logs, PIDs, kubeconfig."""
    return Path(os.environ.get("KMETAL_LAB_DIR", REPO / ".lab"))


def bin_dir() -> Path:
    return Path(os.environ.get("KMETAL_BIN", lab_dir() / "bin"))


def versions() -> dict:
    """The pinned versions of lab/versions.env (KEY=VALUE lines)."""
    pins = {}
    for line in (LAB_SRC / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key] = value
    return pins


def binary(name: str) -> Path:
    """A lab binary; tells how to build it when it is missing."""
    path = bin_dir() / name
    if not path.exists():
        raise LabError(f"{name} is not built yet: run `make binaries` (it builds the lab's pinned binaries once, into {cache_dir()}/bin)")
    return path


class LabError(Exception):
    """A lab failure with a message meant for the person at the terminal."""
