"""Fixtures of the AWX / Automation Platform tests."""

import pytest
from awx_helpers import COLLECTION, load_yaml


@pytest.fixture(scope="session")
def galaxy():
    return load_yaml(COLLECTION / "galaxy.yml")
