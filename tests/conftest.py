"""Fixtures shared by the project's tests: the lab API and a namespace of its own per test."""

import os
import re
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
os.environ["PATH"] = f"{REPO / '.lab' / 'bin'}{os.pathsep}{os.environ['PATH']}"

from kmetal_lab import api  # noqa: E402
from kmetal_lab.audit import AuditLog  # noqa: E402
from kmetal_lab.paths import LabError  # noqa: E402

LAB_USER = "kmetal-lab-admin"


def pytest_collection_modifyitems(items):
    """A test that uses the lab API is marked `lab`, so `-m "not lab"` runs the pure-logic tests alone."""
    for item in items:
        if "lab_api" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab_api() -> api.LabAPI:
    """The running lab API (started when none is up). A lab that cannot start fails the test: never a skip."""
    try:
        return api.ensure_up()
    except LabError as err:
        pytest.fail(f"the lab API could not start: {err}", pytrace=False)


@pytest.fixture(scope="session")
def k8s(lab_api):
    """A kubernetes.client ApiClient for the lab API, as the lab admin."""
    from kubernetes import config

    return config.new_client_from_config(config_file=str(lab_api.kubeconfig))


@pytest.fixture(scope="session")
def platform_datastore(k8s):
    """The platform's default DataStore on the lab API (the chart's glue makes it on a real platform): a tenant
    cluster's DataStore must exist, or the modules refuse it."""
    from kubernetes import client

    sys.path.insert(0, str(REPO / "tests" / "modules"))
    from test_tenant_cluster_module import default_datastore

    try:
        client.CustomObjectsApi(k8s).create_cluster_custom_object("kamaji.clastix.io", "v1alpha1", "datastores", default_datastore())
    except client.ApiException as err:
        if err.status != 409:  # there already
            raise
    return "default"


@pytest.fixture(scope="session")
def audit(lab_api) -> AuditLog:
    return AuditLog(lab_api.audit_log)


@pytest.fixture
def namespace(k8s, request):
    """A namespace of the test's own, deleted afterwards."""
    from kubernetes import client

    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{slug}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(k8s)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"kmetal.io/test": "true"})))
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as err:
        if err.status != 404:  # the test may have deleted it itself
            raise
