# -*- coding: utf-8 -*-
"""Pure logic of tenant_kubeconfig: the mode a credential may have, reading Cluster API's Secret, the atomic write."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from ansible_collections.kmetal.platform.plugins.module_utils import _kubeconfig as kc
from ansible_collections.kmetal.platform.plugins.module_utils._k8s import KmetalError

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: prod, cluster: {server: "https://198.18.1.201:6443", certificate-authority-data: Y2E=}}]
users: [{name: admin, user: {client-key-data: c2VjcmV0}}]
contexts: [{name: admin@prod, context: {cluster: prod, user: admin}}]
current-context: admin@prod
"""


def secret(data):
    return {"metadata": {"name": "prod-kubeconfig", "namespace": "tenant-acme"}, "data": data}


# an unquoted 0600 in YAML arrives as the number 384, which is that mode (as ansible.builtin.file reads it)
@pytest.mark.parametrize("mode, value", [("0600", 0o600), ("0400", 0o400), ("600", 0o600), (384, 0o600)])
def test_owner_only_modes_are_accepted(mode, value):
    got, why = kc.parse_mode(mode)
    assert why is None and got == value


@pytest.mark.parametrize("mode, words", [("0644", "lets others than the owner read"), ("0660", "lets others"),
                                         ("0200", "does not let its owner read"), ("rw", "is not an octal mode")])
def test_a_mode_others_could_read_is_refused_naming_the_fix(mode, words):
    got, why = kc.parse_mode(mode)
    assert got is None and words in why


def test_bad_input_is_refused_in_one_message_before_any_request():
    with pytest.raises(KmetalError) as err:
        kc.validate({"name": "Prod_1", "mode": "0644", "wait_timeout": 0})
    msg = str(err.value)
    for words in ("name: 'Prod_1'", "tenant: give the cluster's tenant", "mode: 0644 lets others", "wait_timeout: 0"):
        assert words in msg, msg


def test_the_secret_gives_the_kubeconfig_and_its_server():
    text, server = kc.decode(secret({"value": base64.b64encode(KUBECONFIG.encode()).decode()}))
    assert text == KUBECONFIG and server == "https://198.18.1.201:6443"


@pytest.mark.parametrize("data, words", [({}, "has no key value"), ({"value": "!!notbase64"}, "is not a kubeconfig"),
                                          ({"value": base64.b64encode(b"just: text").decode()}, "is not a kubeconfig")])
def test_a_secret_that_is_not_a_kubeconfig_is_named(data, words):
    with pytest.raises(KmetalError) as err:
        kc.decode(secret(data))
    assert words in str(err.value) and "Secret tenant-acme/prod-kubeconfig" in str(err.value)
    assert "c2VjcmV0" not in str(err.value)


def test_the_file_is_written_with_its_mode_from_the_start_and_replaced_atomically(tmp_path):
    dest = tmp_path / "new" / "acme-prod.kubeconfig"
    kc.write(str(dest), KUBECONFIG, 0o600)
    assert dest.read_text() == KUBECONFIG and stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
    dest.chmod(0o644)
    kc.write(str(dest), KUBECONFIG + "# again\n", 0o600)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and dest.read_text().endswith("# again\n")
    assert sorted(os.listdir(dest.parent)) == ["acme-prod.kubeconfig"]  # no temporary file left
    digest, mode = kc.current(str(dest))
    assert len(digest) == 64 and mode == 0o600 and kc.current(str(tmp_path / "none")) == (None, None)
