"""Tests on lab hosts (systemd-nspawn containers reached over SSH): every test here is marked `hosts`."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/hosts/" in str(item.fspath):
            item.add_marker(pytest.mark.hosts)


@pytest.fixture(autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.fail("lab hosts need root (network namespaces, bridges, systemd-nspawn)", pytrace=False)
