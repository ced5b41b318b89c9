"""A14: host_prep installs what the pinned kubeadm's preflight requires on Debian 12. The required executables are
read from kubeadm's own preflight source (k8s.io/kubernetes in the Go module cache, as the lab build leaves it), and
the package of each from this Debian machine's dpkg database."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "collections" / "ansible_collections" / "kmetal" / "platform" / "roles" / "host_prep"


def _version_tuple(text: str) -> tuple:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def mandatory_executables(source: str, version: str) -> list[str]:
    """The executables of kubeadm's mandatory InPathChecks for VERSION, from checks_linux.go: the checks inside an
    `if v.LessThan(...MustParseSemantic("X"))` block apply only to versions below X."""
    body = source[source.index("func addExecChecks("):]
    body = body[:body.index("\n}\n")]
    found, guards, depth = [], [], 0
    for line in body.splitlines():
        below = re.search(r'LessThan\(utilversion\.MustParseSemantic\("v?([\d.]+)"\)\)', line)
        for match in re.finditer(r'InPathCheck\{executable: "([^"]+)", mandatory: true', line):
            if all(_version_tuple(version) < limit for limit, _ in guards):
                found.append(match.group(1))
        depth += line.count("{") - line.count("}")
        if below:
            guards.append((_version_tuple(below.group(1)), depth))
        guards = [(limit, d) for limit, d in guards if depth >= d]
    return found


def test_the_parser_reads_version_guards():
    source = '''func addExecChecks(checks []Checker, execer utilsexec.Interface, k8sVersion string) []Checker {
	if v, err := utilversion.ParseSemantic(k8sVersion); err == nil {
		if v.LessThan(utilversion.MustParseSemantic("1.32.0")) {
			checks = append(checks, InPathCheck{executable: "conntrack", mandatory: true, exec: execer})
		}
	}
	checks = append(checks, InPathCheck{executable: "losetup", mandatory: true, exec: execer})
	checks = append(checks, InPathCheck{executable: "ethtool", mandatory: false, exec: execer})
	return checks
}
'''
    assert mandatory_executables(source, "v1.31.4") == ["conntrack", "losetup"]
    assert mandatory_executables(source, "v1.34.4") == ["losetup"]


def test_host_prep_installs_what_kubeadm_preflight_requires():
    version = yaml.safe_load((REPO / "inventories" / "sample" / "group_vars" / "all" / "cluster.yml").read_text())["kmetal_kubernetes_version"]
    modcache = Path(os.environ.get("GOMODCACHE") or Path(os.environ.get("GOPATH") or Path.home() / "go") / "pkg" / "mod")
    source = modcache / "k8s.io" / f"kubernetes@{version}" / "cmd" / "kubeadm" / "app" / "preflight" / "checks_linux.go"
    if not source.exists():
        pytest.skip(f"kubeadm's preflight source is not in the Go module cache ({source}): `make binaries` or the lab build puts it there")
    if not shutil.which("dpkg-query"):
        pytest.skip("no dpkg on this machine to say which Debian package holds each executable")
    required = mandatory_executables(source.read_text(), version)
    assert {"mount", "losetup", "cp"} <= set(required), required  # the parser found the checks at all
    packages = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["host_prep_packages"]
    missing = []
    for exe in required:
        owners = subprocess.run(["dpkg-query", "-S", f"bin/{exe}"], capture_output=True, text=True).stdout.splitlines()
        owners = sorted({line.split(":")[0] for line in owners if line.rstrip().endswith(f"bin/{exe}")})
        assert owners, f"no Debian package on this machine holds {exe}"
        essential = [p for p in owners
                     if subprocess.run(["dpkg-query", "-W", "-f=${Essential}", p], capture_output=True, text=True).stdout == "yes"]
        if not essential and not set(owners) & set(packages):
            missing.append(f"{exe} ({' or '.join(owners)})")
    assert not missing, f"kubeadm {version} preflight requires {', '.join(missing)}: not in host_prep_packages"
