"""Helpers of the platform tests: render the kMetal chart with helm, split manifests, run kubectl."""

import shutil
import subprocess
from pathlib import Path

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kmetal"
VENDOR = REPO / "charts" / "vendor.sh"

# The smallest working values: the required tunnel interface (mirrored into the kube-ovn sub-chart) and the OVN
# central nodes (kube-ovn looks them up by label otherwise, which `helm template` cannot).
BASE = {
    "network": {"kubeOvn": {"tunnelInterface": "data.205"}},
    "kube-ovn": {"agent": {"interface": "data.205"}, "masterNodes": ["10.10.0.11"]},
}

# The toggles that gate a sub-chart or a placeholder, as dotted paths.
TOGGLES = [
    "network.flannel.enabled",
    "network.kubeOvn.enabled",
    "network.multus.enabled",
    "network.providerNetwork.enabled",
    "metallb.enabled",
    "kubevirt.enabled",
    "cdi.enabled",
    "kamaji.enabled",
    "capi.enabled",
    "certManager.enabled",
    "storage.localPath.enabled",
    "flux.enabled",
    "glue.kamajiAddonOvn.enabled",
    "glue.clusterClass.enabled",
    "glue.dataStore.enabled",
    "glue.metallbPools.enabled",
    "glue.capiProviders.enabled",
    "glue.clusterIssuer.enabled",
    "glue.clusterRole.enabled",
]

# The glue templates (kMetal's own objects), as opposed to the sub-charts'.
GLUE = "kmetal/templates/glue/"


def ensure_vendored() -> None:
    """Every sub-chart Chart.yaml depends on is in charts/ (vendor.sh is cached: a new one costs one module fetch)."""
    wanted = [d["name"] for d in yaml.safe_load((CHART / "Chart.yaml").read_text()).get("dependencies") or []]
    if not all((CHART / "charts" / name / "Chart.yaml").exists() for name in wanted):
        subprocess.run([str(VENDOR)], check=True, capture_output=True, text=True)


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def dotted(path: str, value) -> dict:
    out = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def helm(*args: str, values: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [shutil.which("helm") or "helm", *args]
    if values is not None:
        cmd += ["--values", "-"]
    return subprocess.run(cmd, input=yaml.safe_dump(values) if values is not None else None,
                          capture_output=True, text=True, check=check, timeout=120)


def template(values: dict, namespace: str = "kmetal-flux", release: str = "kmetal", check: bool = True,
             extra: tuple = ()) -> subprocess.CompletedProcess:
    return helm("template", release, str(CHART), "--namespace", namespace, *extra, values=values, check=check)


def documents(manifest: str, glue_only: bool = False) -> list[dict]:
    """The objects of a rendered manifest; glue_only keeps the chart's own templates (by `# Source:`)."""
    out = []
    for chunk in manifest.split("\n---"):
        source = next((line for line in chunk.splitlines() if line.startswith("# Source: ")), "")
        if glue_only and GLUE not in source:
            continue
        doc = yaml.load(chunk, Loader=LOADER)  # noqa: S506 - a safe loader
        if doc:
            out.append(doc)
    return out


def kubectl(kubeconfig, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [shutil.which("kubectl") or "kubectl", "--kubeconfig", str(kubeconfig), *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=check, timeout=120)
