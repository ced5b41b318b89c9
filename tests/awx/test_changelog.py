"""Changelog and docs: antsibull-changelog's fragments lint clean, galaxy.yml's version is the changelog's latest
release, and the committed CHANGELOG.rst is what antsibull-changelog generates. (antsibull-docs' lint of the
collection's docs is a step of its own in scripts/test.sh.)"""

import shutil

from awx_helpers import COLLECTION, VENV_BIN, ansible_env, load_yaml, run
from packaging.version import Version


def test_fragments_lint():
    run([VENV_BIN / "antsibull-changelog", "lint"], cwd=str(COLLECTION))


def test_galaxy_version_is_the_latest_release(galaxy):
    releases = load_yaml(COLLECTION / "changelogs" / "changelog.yaml")["releases"]
    assert releases, "no release in changelogs/changelog.yaml: run antsibull-changelog release"
    assert max(releases, key=Version) == galaxy["version"]
    assert "\nv%s\n" % galaxy["version"] in (COLLECTION / "CHANGELOG.rst").read_text()


def test_changelog_rst_is_generated(tmp_path):
    copy = tmp_path / "ansible_collections" / "kmetal" / "platform"
    shutil.copytree(COLLECTION, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", ".plugin-cache.yaml"))
    (copy / "CHANGELOG.rst").unlink()
    run([VENV_BIN / "antsibull-changelog", "generate"], cwd=str(copy), env=ansible_env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path)))
    assert (copy / "CHANGELOG.rst").read_text() == (COLLECTION / "CHANGELOG.rst").read_text(), \
        "CHANGELOG.rst is stale: run antsibull-changelog generate in the collection"

