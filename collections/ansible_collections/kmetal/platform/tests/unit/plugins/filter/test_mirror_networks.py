# -*- coding: utf-8 -*-
"""preflight: mirror and base URL hosts must lie in kmetal_mirror_allowed_networks when it is set."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[7]))  # .../collections (for ansible_collections.*)

from ansible_collections.kmetal.platform.plugins.filter.network_preflight import _mirrors  # noqa: E402


def problems(**site):
    errors = []
    _mirrors(site, errors)
    return errors


def test_no_allowed_networks_means_no_check():
    assert problems(download_base_urls={"kubernetes": "https://dl.k8s.io/release"}) == []


def test_lab_addresses_pass_and_others_are_refused_naming_the_url():
    errors = problems(mirror_allowed_networks=["198.18.0.0/15"],
                      download_base_urls={"kubernetes": "https://198.18.0.1:8443/files/kubernetes", "runc": "https://dl.k8s.io/runc"},
                      registry_mirrors={"registry.k8s.io": "https://198.18.0.1:5000", "quay.io": "https://10.0.0.5:5000"},
                      apt_mirror={"url": "https://198.19.255.1:8443/debian"})
    assert errors == [
        "kmetal_download_base_urls.runc: https://dl.k8s.io/runc names host 'dl.k8s.io', not an address in kmetal_mirror_allowed_networks "
        "(198.18.0.0/15); use the mirror's address",
        "kmetal_registry_mirrors[quay.io]: https://10.0.0.5:5000 is outside kmetal_mirror_allowed_networks (198.18.0.0/15); "
        "point it at the site's own mirror",
    ]
