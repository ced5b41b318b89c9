"""The real upstream CRDs, taken from pinned Go modules (lab/crds.yml) and installed into the lab API."""

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from . import paths
from .paths import LabError

STAMP = "crds.installed"
# The CRD YAML that some projects ship only as Go raw-string literals (e.g. CDI's crds_generated.go). A backtick
# inside such a text is spliced in as `+"`"+`, which the placeholder keeps inside one literal.
_RAW_STRING = re.compile(r"`([^`]*)`", re.S)
_SPLICED_BACKTICK = re.compile(r'`\s*\+\s*"`"\s*\+\s*`')
_PLACEHOLDER = "\x00"


def _go_raw_strings(source: str) -> list[str]:
    joined = _SPLICED_BACKTICK.sub(_PLACEHOLDER, source)
    return [literal.replace(_PLACEHOLDER, "`") for literal in _RAW_STRING.findall(joined)]


def _clean(crd: dict) -> dict:
    """Drop what generators leave on a CRD object but the API server owns (status, creationTimestamp)."""
    crd.pop("status", None)
    crd.get("metadata", {}).pop("creationTimestamp", None)
    return crd


def table() -> list[dict]:
    return yaml.safe_load((paths.LAB_SRC / "crds.yml").read_text())


def module_dir(module: str, version: str) -> Path:
    """The unpacked module from the Go module proxy (downloaded once into the Go module cache)."""
    env = dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on")
    try:
        out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True, env=env, check=False, timeout=600)
    except FileNotFoundError:
        raise LabError("no Go toolchain on PATH: the lab takes the upstream CRDs from Go modules; install Go 1.24 or newer") from None
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise LabError(f"could not download {module}@{version} from the Go module proxy: {info.get('Error') or out.stderr.strip()}")
    return Path(info["Dir"])


def _documents(entry: dict) -> list[dict]:
    docs = []
    if entry.get("module"):
        root = module_dir(entry["module"], entry["version"])
        for pattern in entry.get("files", []):
            matched = sorted(root.glob(pattern))
            if not matched:
                raise LabError(f"{entry['component']}: {pattern} matches nothing in {entry['module']}@{entry['version']}")
            for path in matched:
                docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        if entry.get("go_strings"):
            source = (root / entry["go_strings"]).read_text()
            for literal in _go_raw_strings(source):
                if "kind: CustomResourceDefinition" in literal:
                    docs.extend(d for d in yaml.safe_load_all(literal) if d)
    if entry.get("minimal"):
        docs.extend(d for d in yaml.safe_load_all((paths.REPO / entry["minimal"]).read_text()) if d)
    crds = [_clean(d) for d in docs if d.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise LabError(f"{entry['component']}: no CustomResourceDefinition found in {entry.get('files') or entry.get('go_strings') or entry.get('minimal')}")
    return crds


def bundle() -> Path:
    """Every CRD of the table in one file in the cache, named by the table's content (built once per table)."""
    digest = hashlib.sha256((paths.LAB_SRC / "crds.yml").read_bytes()).hexdigest()[:16]
    target = paths.cache_dir() / "crds" / f"crds-{digest}.yaml"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        docs = [crd for entry in table() for crd in _documents(entry)]
        tmp = target.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        tmp.replace(target)
    return target


# Components whose operators publish no chart: the platform role installs their CRDs from a file the site gives
# (kmetal_platform_crd_files), which the lab writes from the same pinned modules.
NO_CHART = ("KubeVirt", "Containerized Data Importer (CDI)", "Multus NetworkAttachmentDefinition")


def write_no_chart(target: Path | None = None) -> Path:
    """The CRDs of NO_CHART in one file under the lab's state (inventories/lab's kmetal_platform_crd_files)."""
    target = target or paths.lab_dir() / "crds" / "no-chart.yaml"
    docs = [crd for entry in table() if entry["component"] in NO_CHART for crd in _documents(entry)]
    if len({e["component"] for e in table() if e["component"] in NO_CHART}) != len(NO_CHART):
        raise LabError(f"lab/crds.yml lacks one of {', '.join(NO_CHART)}")
    text = yaml.safe_dump_all(docs, sort_keys=False)
    if not target.exists() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return target


def install(kubeconfig: Path, say=print, timeout: int = 120) -> None:
    """Apply the bundle server-side and wait until every CRD is Established; skipped when already installed."""
    write_no_chart()
    path = bundle()
    stamp = paths.lab_dir() / STAMP
    if stamp.exists() and stamp.read_text() == path.name:
        return
    kubectl = [str(paths.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(path.read_text()) if d]
    say(f"lab: installing {len(names)} upstream CRDs")
    for cmd in (
        [*kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=kmetal-lab", "-f", str(path)],
        [*kubectl, "wait", "--for=condition=Established", f"--timeout={timeout}s", *[f"crd/{n}" for n in names]],
    ):
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise LabError(f"installing the CRDs failed: {' '.join(cmd[:4])}...\n{result.stderr.strip()[-3000:]}")
    stamp.write_text(path.name)


def markdown_table() -> str:
    """lab/crds.yml as the README's table."""
    rows = ["| component | Go module | version | CRD files in the module | note |", "|---|---|---|---|---|"]
    for entry in table():
        source = ", ".join(f"`{f}`" for f in entry.get("files", []))
        if entry.get("go_strings"):
            source = f"YAML strings in `{entry['go_strings']}`"
        if entry.get("minimal"):
            source += f" + hand-written minimal `{entry['minimal']}`"
        rows.append(f"| {entry['component']} | `{entry.get('module', '-')}` | {entry.get('version', '-')} | {source} | {entry.get('note', '')} |")
    return "\n".join(rows)
