"""Fill $KMETAL_CACHE with what the lab mirror serves, built from source once (`make artifacts`).

Binaries come from one wrapper module per component in lab/go/ (go.mod + go.sum pin every dependency) with one
shared GOCACHE; release files are laid out as upstream publishes them; images are written without a container
engine by lab/go/imagebuild (go-containerregistry). Everything already in the cache is kept as it is, so a
second run builds nothing. The index $KMETAL_CACHE/artifacts.json follows /work/briefs/issue8-contract.md:
  {"files": [{"base", "path", "sha256", "size"}], "images": [{"ref", "tarball", "digest"}]}
Run as `lab/build-artifacts.sh` (or `python3 -m kmetal_lab.build` with lab/ on PYTHONPATH).
"""

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from . import providers
from .paths import LAB_SRC, cache_dir, versions

GO = LAB_SRC / "go"
ARCH = "amd64"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CERTS_ENV = "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
# vfs_cap_data revision 2, effective, permitted = CAP_NET_BIND_SERVICE: what `setcap cap_net_bind_service=+ep`
# writes (CoreDNS's upstream image runs as nonroot and binds :53 through it).
CAP_NET_BIND_SERVICE = (b"\x01\x00\x00\x02" + (1 << 10).to_bytes(4, "little") + bytes(12)).decode("utf-8", "surrogateescape")

# Debian packages taken into image layers (apt-get download + dpkg-deb -x; never installed on this machine).
BASE_DEBS = ["libc6", "ca-certificates"]
NETFILTER_DEBS = [
    "iptables", "libip4tc2", "libip6tc2", "libxtables12", "libnftnl11", "libmnl0", "libnetfilter-conntrack3",
    "libnfnetlink0", "nftables", "libnftables1", "libjansson4", "libgmp10", "libedit2", "libbsd0", "libmd0",
    "libtinfo6", "conntrack", "libnetfilter-cthelper0", "libnetfilter-queue1",
]
SHELL_DEBS = ["busybox-static"]


class BuildError(Exception):
    pass


class Builder:
    def __init__(self, cache: Path, pins: dict, log=print):
        self.cache, self.pins, self.log = cache, pins, log
        self.bin, self.files, self.images = cache / "bin", cache / "files", cache / "images"
        self.work, self.logs, self.debs = cache / "build", cache / "logs", cache / "debs"
        for d in (self.bin, self.files, self.images, self.work, self.logs, self.debs):
            d.mkdir(parents=True, exist_ok=True)
        self.digests_path = self.work / "image-digests.json"
        self.digests = json.loads(self.digests_path.read_text()) if self.digests_path.exists() else {}
        self.built = []  # (component, version, seconds, peak MiB) of what this run built

    # --- building -------------------------------------------------------------------------------------------
    def _run(self, component: str, version: str, argv: list, cwd: Path, env: dict | None = None) -> None:
        """Run one build step under /usr/bin/time -v; record its wall time and peak memory; fail with its log."""
        log = self.logs / f"build-{component}-{version}.log"
        start = time.monotonic()
        full_env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", **(env or {})}
        with open(log, "w") as out:
            rc = subprocess.run(["/usr/bin/time", "-v", *argv], cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT).returncode
        text = log.read_text(errors="replace")
        if rc != 0:
            raise BuildError(f"building {component} {version} failed (exit {rc}):\n" + "\n".join(text.splitlines()[-30:]) + f"\nthe full log is {log}")
        seconds = round(time.monotonic() - start)
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        mib = int(peak.group(1)) // 1024 if peak else 0
        self.built.append((component, version, seconds, mib))
        with open(self.logs / "build-times.tsv", "a") as times:
            times.write(f"{component}\t{version}\t{seconds}\t{mib}\t{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        self.log(f"build-artifacts: {component} {version} built in {seconds}s, peak memory {mib} MiB")

    def go(self, name: str, version: str, wrapper: str, pkg: str, ldflags: str = "", cgo: bool = False, tags: str = "") -> Path:
        """$KMETAL_CACHE/bin/<name>-<version> from the wrapper module lab/go/<wrapper>, built once."""
        out = self.bin / f"{name}-{version}"
        if not out.exists():
            argv = ["go", "build", "-trimpath", "-ldflags", f"-s -w {ldflags}".strip(), "-o", f"{out}.tmp"]
            if tags:
                argv[3:3] = ["-tags", tags]
            env = {} if cgo is None else {"CGO_ENABLED": "1" if cgo else "0"}
            self._run(name, version, [*argv, pkg], GO / wrapper, env)
            os.replace(f"{out}.tmp", out)
        return out

    def go_many(self, component: str, version: str, wrapper: str, pkgs: list, ldflags: str) -> Path:
        """Several commands of one module into $KMETAL_CACHE/build/<component>-<version>/ (e.g. the CNI plugins)."""
        out = self.work / f"{component}-{version}"
        if not out.exists():
            tmp = Path(f"{out}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            argv = ["go", "build", "-trimpath", "-ldflags", f"-s -w {ldflags}", "-o", f"{tmp}/", *pkgs]
            self._run(component, version, argv, GO / wrapper, {"CGO_ENABLED": "0"})
            tmp.rename(out)
        return out

    def module_dir(self, module: str, version: str) -> Path:
        """The unpacked module zip (go mod download), e.g. for pause.c or containerd.service."""
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], cwd=tmp, capture_output=True, text=True,
                                 env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
        info = json.loads(out.stdout or "{}")
        if out.returncode != 0 or "Dir" not in info:
            raise BuildError(f"go mod download {module}@{version} failed: {info.get('Error') or out.stderr.strip()}")
        return Path(info["Dir"])

    # --- the components ---------------------------------------------------------------------------------------
    def kubernetes(self, version: str, wrapper: str, nodes: bool = True) -> dict:
        """The control plane's commands of VERSION, and with NODES kubeadm, kubelet and kubectl as release files."""
        minor = version.split(".")[1]
        ld = " ".join(f"-X {p}.gitVersion={version} -X {p}.gitMajor=1 -X {p}.gitMinor={minor} -X {p}.gitTreeState=clean"
                      for p in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"))
        # cgo stays at Go's default, as lab/build-binaries.sh builds kube-apiserver & co: the same GOCACHE entries
        # serve both; the images' base layer carries the glibc they link.
        cmds = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"]
        if nodes:
            cmds = ["kubeadm", "kubelet", "kubectl", *cmds]
        bins = {c: self.go(c, version, wrapper, f"k8s.io/kubernetes/cmd/{c}", ld, cgo=None) for c in cmds}
        for c in ("kubeadm", "kubelet", "kubectl") if nodes else ():
            self.file("kubernetes", f"{version}/bin/linux/{ARCH}/{c}", bins[c])
        return bins

    def etcd(self, version: str, wrapper: str, etcdctl: bool) -> dict:
        bins = {"etcd": self.go("etcd", version, wrapper, "go.etcd.io/etcd/server/v3")}
        if etcdctl:
            bins["etcdctl"] = self.go("etcdctl", version, wrapper, "go.etcd.io/etcd/etcdctl/v3")
            # As in registry.k8s.io/etcd: etcd 3.6 has `snapshot restore` only in etcdutl (restore_etcd.yml runs it).
            bins["etcdutl"] = self.go("etcdutl", version, wrapper, "go.etcd.io/etcd/etcdutl/v3")
        return bins

    def pause(self, version: str, kube_version: str) -> Path:
        out = self.bin / f"pause-{version}"
        if not out.exists():
            src = self.module_dir("k8s.io/kubernetes", kube_version) / "build/pause/linux/pause.c"
            self._run("pause", version, ["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{version}", "-o", f"{out}.tmp", str(src)], self.work)
            subprocess.run(["strip", f"{out}.tmp"], check=True)
            os.replace(f"{out}.tmp", out)
        return out

    def cni_plugins(self, version: str) -> Path:
        mod = "github.com/containernetworking/plugins"
        pkgs = [line.split('"')[1] for line in (GO / "cni-plugins/tools.go").read_text().splitlines() if line.strip().startswith('_ "')]
        built = self.go_many("cni-plugins", version, "cni-plugins", pkgs, f"-X {mod}/pkg/utils/buildversion.BuildVersion={version}")
        src = self.module_dir(mod, version)
        members = {p.name: p for p in built.iterdir()} | {"LICENSE": src / "LICENSE", "README.md": src / "README.md"}
        self.tgz("cni_plugins", f"{version}/cni-plugins-linux-{ARCH}-{version}.tgz", {f"./{k}": v for k, v in members.items()})
        return built

    def crictl(self, version: str) -> Path:
        b = self.go("crictl", version, "cri-tools", "sigs.k8s.io/cri-tools/cmd/crictl", f"-X sigs.k8s.io/cri-tools/pkg/version.Version={version}")
        self.tgz("crictl", f"{version}/crictl-{version}-linux-{ARCH}.tar.gz", {"crictl": b})
        return b

    def containerd(self, version: str) -> dict:
        v = "github.com/containerd/containerd/v2/version"
        ld = f"-X {v}.Version={version} -X {v}.Package=github.com/containerd/containerd/v2"
        cmds = ("containerd", "containerd-shim-runc-v2", "ctr")
        bins = {c: self.go(c, version, "containerd", f"github.com/containerd/containerd/v2/cmd/{c}", ld) for c in cmds}
        self.tgz("containerd", f"{version}/containerd-{version.lstrip('v')}-linux-{ARCH}.tar.gz", {f"bin/{k}": p for k, p in bins.items()})
        unit = self.module_dir("github.com/containerd/containerd/v2", version) / "containerd.service"
        if unit.exists():
            self.file("containerd", f"{version}/containerd.service", unit)
        return bins

    def runc(self, version: str) -> Path:
        # As runc's `make static`: cgo for libseccomp (linked statically; Debian's libseccomp-dev), pure-Go user/net.
        b = self.go("runc", version, "runc", "github.com/opencontainers/runc",
                    f"-X main.version={version.lstrip('v')} -extldflags -static", cgo=True, tags="seccomp urfave_cli_no_docs netgo osusergo")
        self.file("runc", f"{version}/runc.{ARCH}", b)
        return b

    def flannel(self, version: str) -> dict:
        upstream = self.module_dir("github.com/flannel-io/flannel", version) / "main.go"
        ours = (GO / "flannel/main.go").read_text()
        expected = [line for line in upstream.read_text().splitlines() if not re.search(r'pkg/backend/(tencentvpc|udp)"', line)]
        if ours.splitlines()[3:] != expected:
            raise BuildError(f"lab/go/flannel/main.go is not flannel {version}'s main.go less the tencentvpc and udp backends: regenerate it")
        ld = f"-X github.com/flannel-io/flannel/pkg/version.Version={version}"
        return {"flanneld": self.go("flanneld", version, "flannel", ".", ld),
                "install-conf": self.go("flannel-install-conf", version, "flannel", "github.com/flannel-io/flannel/cmd/install_conf")}

    # --- release files ----------------------------------------------------------------------------------------
    def file(self, base: str, path: str, src: Path) -> Path:
        dest = self.files / base / path
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, f"{dest}.tmp")
            os.chmod(f"{dest}.tmp", 0o755 if os.access(src, os.X_OK) else 0o644)
            os.replace(f"{dest}.tmp", dest)
        return dest

    def tgz(self, base: str, path: str, members: dict) -> Path:
        """A gzipped tar as upstream's release (members: name in the archive -> file), byte-for-byte reproducible."""
        dest = self.files / base / path
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                dirs = sorted({str(Path(n).parent) for n in members if str(Path(n).parent) not in (".", "")})
                for d in dirs:
                    tar.addfile(_info(d + "/", tarfile.DIRTYPE, 0o755))
                for name in sorted(members):
                    data = Path(members[name]).read_bytes()
                    mode = 0o755 if os.access(members[name], os.X_OK) else 0o644
                    tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
            with open(f"{dest}.tmp", "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
                gz.write(raw.getvalue())
            os.replace(f"{dest}.tmp", dest)
        return dest

    # --- image layers -----------------------------------------------------------------------------------------
    def deb_tree(self, name: str, packages: list) -> Path:
        """Debian packages unpacked into one directory (apt-get download + dpkg-deb -x), once."""
        tree = self.work / f"debs-{name}"
        if not tree.exists():
            missing = [p for p in packages if not list(self.debs.glob(f"{p}_*.deb"))]
            if missing:
                got = subprocess.run(["apt-get", "download", *missing], cwd=self.debs, capture_output=True, text=True)
                if got.returncode != 0:
                    raise BuildError(f"apt-get download {' '.join(missing)} failed: {got.stderr.strip()} (run apt-get update as root?)")
            tmp = Path(f"{tree}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for p in packages:
                subprocess.run(["dpkg-deb", "-x", str(sorted(self.debs.glob(f"{p}_*.deb"))[-1]), str(tmp)], check=True)
            tmp.rename(tree)
        return tree

    def layer(self, name: str, entries: list) -> Path:
        """An uncompressed layer tar, reproducible (fixed mtime and owners), once: the same file is the same layer
        in every image, so the registry stores it once. entries: (path in image, kind, mode, source|target, extra)."""
        out = self.work / "layers" / f"{name}.tar"
        if not out.exists():
            out.parent.mkdir(exist_ok=True)
            with tarfile.open(f"{out}.tmp", "w", format=tarfile.PAX_FORMAT) as tar:
                seen = set()
                for path, kind, mode, source, extra in sorted(entries, key=lambda e: e[0]):
                    for parent in reversed(Path(path).parents[:-1] if path.count("/") else []):
                        if str(parent) not in seen:
                            seen.add(str(parent))
                            tar.addfile(_info(f"{parent}/", tarfile.DIRTYPE, 0o755))
                    if path in seen:
                        continue
                    seen.add(path)
                    info = _info(path if kind != tarfile.DIRTYPE else path + "/", kind, mode, **extra)
                    if kind == tarfile.SYMTYPE:
                        info.linkname = source
                        tar.addfile(info)
                    elif kind == tarfile.DIRTYPE:
                        tar.addfile(info)
                    else:
                        data = source if isinstance(source, bytes) else Path(source).read_bytes()
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
            os.replace(f"{out}.tmp", out)
        return out

    def tree_entries(self, tree: Path, prefixes: tuple) -> list:
        """Layer entries for the files and links of an unpacked package tree under the given top-level paths."""
        entries = []
        for root, dirs, files in os.walk(tree):
            for n in dirs + files:
                p = Path(root) / n
                rel = str(p.relative_to(tree))
                if not rel.startswith(prefixes) or "/share/" in f"/{rel}/":
                    continue
                if p.is_symlink():
                    entries.append((rel, tarfile.SYMTYPE, 0o777, os.readlink(p), {}))
                elif p.is_dir():
                    entries.append((rel, tarfile.DIRTYPE, p.stat().st_mode & 0o7777, None, {}))
                else:
                    entries.append((rel, tarfile.REGTYPE, p.stat().st_mode & 0o7777, p, {}))
        return entries

    def base_layer(self) -> Path:
        """Shared by every image but pause: users (root, nobody, nonroot as distroless has them), CA bundle from
        Debian's ca-certificates (not this machine's, which may hold a private CA), glibc for the cgo binaries."""
        tree = self.deb_tree("base", BASE_DEBS)
        bundle = b"".join(p.read_bytes() for p in sorted((tree / "usr/share/ca-certificates/mozilla").glob("*.crt")))
        etc = {
            "etc/passwd": b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
                          b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
            "etc/group": b"root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
            "etc/nsswitch.conf": b"passwd: files\ngroup: files\nhosts: files dns\n",
            "etc/ssl/certs/ca-certificates.crt": bundle,
        }
        entries = [(k, tarfile.REGTYPE, 0o644, v, {}) for k, v in etc.items()]
        entries += [("tmp", tarfile.DIRTYPE, 0o1777, None, {}), ("root", tarfile.DIRTYPE, 0o700, None, {}),
                    ("home/nonroot", tarfile.DIRTYPE, 0o700, None, {"uid": 65532, "gid": 65532})]
        entries += [e for e in self.tree_entries(tree, ("lib/", "lib64/")) if "/gconv" not in e[0] and "/audit" not in e[0]]
        return self.layer("base", entries)

    def netfilter_layer(self) -> Path:
        """iptables (nft and legacy), nft and conntrack with their libraries, from Debian: kube-proxy and Flannel.
        iptables points at the nft backend, Debian bookworm's default (what its alternatives would set)."""
        tree = self.deb_tree("netfilter", NETFILTER_DEBS)
        entries = self.tree_entries(tree, ("lib/", "usr/lib/", "usr/sbin/", "sbin/", "etc/"))
        for tool in ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"):
            entries.append((f"usr/sbin/{tool}", tarfile.SYMTYPE, 0o777, "xtables-nft-multi", {}))
        return self.layer("netfilter", entries)

    def shell_layer(self) -> Path:
        """busybox (static) with every applet in /bin, as the busybox image has it: the flannel CNI image's init
        container runs `cp`, local-path-provisioner's helper pods and Kamaji's jobs run `sh -c` scripts."""
        tree = self.deb_tree("shell", SHELL_DEBS)
        # its image is also tagged with BUSYBOX_VERSION: that must be the version it holds
        deb = sorted(self.debs.glob("busybox-static_*.deb"))[-1].name.split("_")[1]
        held = re.sub(r"^\d+(%3a|:)", "", deb).split("-")[0]
        if held != self.pins["BUSYBOX_VERSION"]:
            raise BuildError(f"busybox-static is {held}, lab/versions.env says BUSYBOX_VERSION={self.pins['BUSYBOX_VERSION']}: update the pin")
        applets = subprocess.run([str(tree / "bin/busybox"), "--list"], capture_output=True, text=True, check=True).stdout.split()
        entries = [("bin/busybox", tarfile.REGTYPE, 0o755, tree / "bin/busybox", {})]
        entries += [(f"bin/{t}", tarfile.SYMTYPE, 0o777, "busybox", {}) for t in applets if t != "busybox"]
        return self.layer("shell", entries)

    def binary_layer(self, name: str, files: dict, caps: set = frozenset()) -> Path:
        """One layer with the given files (path in image -> built binary); caps: paths given CAP_NET_BIND_SERVICE."""
        entries = [(p, tarfile.REGTYPE, 0o755, src, {"pax_headers": {"SCHILY.xattr.security.capability": CAP_NET_BIND_SERVICE}} if p in caps else {})
                   for p, src in files.items()]
        return self.layer(name, entries)

    # --- images -----------------------------------------------------------------------------------------------
    def image_path(self, ref: str) -> Path:
        name, tag = ref.rsplit(":", 1)
        return self.images / name / f"{tag}.tar"

    def images_write(self, specs: list, check_libraries: bool = True) -> None:
        """Write the images not in the cache yet, with lab/go/imagebuild; remember each one's digest. Each new
        image is checked first: every ELF file in it finds the shared libraries it needs in its own layers."""
        todo = [s for s in specs if not (self.image_path(s["ref"]).exists() and str(self.image_path(s["ref"])) in self.digests)]
        if not todo:
            return
        for s in todo if check_libraries else []:
            missing = needed_libraries_missing(s["layers"])
            if missing:
                raise BuildError(f"{s['ref']}: libraries missing from its layers: {', '.join(missing[:5])}")
        tool = self.go("imagebuild", self.pins["GO_CONTAINERREGISTRY_VERSION"], "imagebuild", ".")
        payload = []
        for s in todo:
            out = self.image_path(s["ref"])
            out.parent.mkdir(parents=True, exist_ok=True)
            config = {"Env": [PATH_ENV, CERTS_ENV], **s.get("config", {})}
            payload.append({"ref": s["ref"], "out": str(out), "layers": [str(p) for p in s["layers"]], "config": config})
        start = time.monotonic()
        done = subprocess.run([str(tool)], input=json.dumps(payload), capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"writing images failed: {done.stderr.strip()}")
        for line in done.stdout.splitlines():
            entry = json.loads(line)
            self.digests[entry["tarball"]] = entry["digest"]
        self.digests_path.write_text(json.dumps(self.digests, indent=1, sort_keys=True))
        self.log(f"build-artifacts: {len(todo)} images written in {round(time.monotonic() - start)}s")

    # --- the index --------------------------------------------------------------------------------------------
    def index(self, refs: list, artifacts: list = ()) -> dict:
        """artifacts: OCI artifacts that are not images ({ref, tarball: an OCI layout directory, digest}), e.g. the
        Cluster API providers' components (providers.py); the mirror pushes them as it pushes images."""
        files = []
        for p in sorted(q for q in self.files.rglob("*") if q.is_file() and not q.name.endswith(".tmp")):
            base, _, path = str(p.relative_to(self.files)).partition("/")
            files.append({"base": base, "path": path, "sha256": _sha256(p), "size": p.stat().st_size})
        images = [{"ref": r, "tarball": str(self.image_path(r)), "digest": self.digests[str(self.image_path(r))]} for r in sorted(refs)]
        images = sorted(images + list(artifacts), key=lambda i: i["ref"])
        doc = {"files": files, "images": images}
        tmp = self.cache / "artifacts.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, self.cache / "artifacts.json")
        return doc


def _info(name: str, kind, mode: int, size: int = 0, uid: int = 0, gid: int = 0, pax_headers: dict | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.uid, info.gid, info.mtime = kind, mode, size, uid, gid, 0
    info.uname = info.gname = ""
    if pax_headers:
        info.pax_headers = pax_headers
    return info


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def needed_libraries_missing(layer_tars: list) -> list:
    """ELF files of the given layers whose DT_NEEDED libraries no layer provides (checked with readelf)."""
    with tempfile.TemporaryDirectory() as tmp:
        for t in layer_tars:
            with tarfile.open(t) as tar:
                tar.extractall(tmp, filter="fully_trusted")
        root = Path(tmp)
        provided = {p.name for d in ("lib", "lib64", "usr/lib") if (root / d).exists() for p in (root / d).rglob("*.so*")}
        missing = []
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF":
                out = subprocess.run(["readelf", "-d", str(p)], capture_output=True, text=True).stdout
                for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out):
                    if lib not in provided:
                        missing.append(f"{p.relative_to(root)} needs {lib}")
        return missing


def platform_images(b: Builder, base: Path, shell: Path) -> list:
    """The platform components' images, tagged as the umbrella chart's sub-charts (and, for the Cluster API
    providers the operator installs, their release manifests) reference them; entrypoint, user and paths as
    their upstream Dockerfiles have them (distroless static nonroot unless noted)."""
    pins, specs = b.pins, []

    def image(ref: str, files: dict, config: dict, extra_layers: tuple = ()) -> None:
        name = ref.split("/")[-1].replace(":", "-")
        specs.append({"ref": ref, "layers": [base, *extra_layers, b.binary_layer(name, files)], "config": config})

    manager = {"User": "65532", "WorkingDir": "/", "Entrypoint": ["/manager"]}
    capi = pins["CAPI_VERSION"]
    ld = f"-X sigs.k8s.io/cluster-api/version.gitVersion={capi} -X sigs.k8s.io/cluster-api/version.gitTreeState=clean"
    image(f"registry.k8s.io/cluster-api/cluster-api-controller:{capi}",
          {"manager": b.go("cluster-api-controller", capi, "cluster-api", "sigs.k8s.io/cluster-api", ld)}, manager)
    image(f"registry.k8s.io/cluster-api/kubeadm-bootstrap-controller:{capi}",
          {"manager": b.go("kubeadm-bootstrap-controller", capi, "cluster-api", "sigs.k8s.io/cluster-api/bootstrap/kubeadm", ld)}, manager)
    v = pins["CAPI_OPERATOR_VERSION"]
    image(f"registry.k8s.io/capi-operator/cluster-api-operator:{v}",
          {"manager": b.go("cluster-api-operator", v, "cluster-api-operator", "sigs.k8s.io/cluster-api-operator/cmd")}, manager)
    v = pins["CAPK_VERSION"]
    image(f"quay.io/capk/capk-manager:{v}", {"manager": b.go("capk-manager", v, "capk", "sigs.k8s.io/cluster-api-provider-kubevirt")}, manager)
    specs += capi_provider_images(b, base)
    # cert-manager's commands are nested modules the proxy does not serve: cert_manager_images builds them from
    # lab/go/cert-manager instead.
    specs += cert_manager_images(b, base)
    v = pins["KAMAJI_VERSION"]
    image(f"docker.io/clastix/kamaji:{v}", {"kamaji": b.go("kamaji", v, "kamaji", "github.com/clastix/kamaji")},
          {"User": "65532:65532", "WorkingDir": "/", "Entrypoint": ["/kamaji"]})
    # Kamaji's chart runs its datastore jobs in clastix/kubectl:<minor> with `sh -c`: our kubectl and busybox.
    kv = pins["KUBERNETES_VERSION"]
    image(f"docker.io/clastix/kubectl:{kv.rsplit('.', 1)[0]}", {"usr/local/bin/kubectl": b.bin / f"kubectl-{kv}"}, {"Entrypoint": ["kubectl"]}, (shell,))
    v = pins["METALLB_VERSION"]
    mod = "go.universe.tf/metallb"
    image(f"quay.io/metallb/controller:{v}", {"controller": b.go("metallb-controller", v, "metallb", f"{mod}/controller")}, {"Entrypoint": ["/controller"]})
    image(f"quay.io/metallb/speaker:{v}", {"speaker": b.go("metallb-speaker", v, "metallb", f"{mod}/speaker"),
                                            "cp-tool": b.go("metallb-cp-tool", v, "metallb", f"{mod}/frr-tools/cp-tool"),
                                            "frr-metrics": b.go("metallb-frr-metrics", v, "metallb", f"{mod}/frr-tools/metrics")},
          {"Entrypoint": ["/speaker"]})
    v = pins["LOCAL_PATH_PROVISIONER_VERSION"]
    image(f"docker.io/rancher/local-path-provisioner:{v}",
          {"usr/bin/local-path-provisioner": b.go("local-path-provisioner", v, "local-path-provisioner", "github.com/rancher/local-path-provisioner")},
          {"Cmd": ["local-path-provisioner"]}, (shell,))
    # Its helper pods (busybox:latest in the chart's values) run the setup/teardown scripts with busybox sh.
    specs.append({"ref": "docker.io/library/busybox:latest", "layers": [shell], "config": {"Env": [PATH_ENV], "Cmd": ["sh"]}})
    # The same busybox under its own version: the dedicated datastores' backup and restore jobs (datastores.toolsImage,
    # set to it by the lab inventory) run their bookkeeping with it.
    specs.append({"ref": f"docker.io/library/busybox:{b.pins['BUSYBOX_VERSION']}", "layers": [shell], "config": {"Env": [PATH_ENV], "Cmd": ["sh"]}})
    # Kamaji's konnectivity addon (tenant control planes): upstream's Dockerfile puts /proxy-server and /proxy-agent on
    # distroless static nonroot; Kamaji sets the command to those paths.
    v = pins["KONNECTIVITY_VERSION"]
    for name, cmd in (("proxy-server", "server"), ("proxy-agent", "agent")):
        image(f"registry.k8s.io/kas-network-proxy/{name}:{v}",
              {name: b.go(f"konnectivity-{name}", v, "konnectivity", f"sigs.k8s.io/apiserver-network-proxy/cmd/{cmd}")},
              {"User": "65532:65532", "Entrypoint": [f"/{name}"]})
    for name, pin in (("source-controller", "FLUX_SOURCE_CONTROLLER_VERSION"), ("helm-controller", "FLUX_HELM_CONTROLLER_VERSION")):
        v = pins[pin]
        image(f"ghcr.io/fluxcd/{name}:{v}", {f"usr/local/bin/{name}": b.go(name, v, name, f"github.com/fluxcd/{name}")},
              {"User": "65534:65534", "Entrypoint": [name]})
    return specs


def cert_manager_images(b: Builder, base: Path) -> list:
    """quay.io/jetstack/cert-manager-{controller,webhook,cainjector,acmesolver,startupapicheck}: upstream's mains
    are nested modules (github.com/cert-manager/cert-manager/controller-binary, ...) the proxy does not serve,
    so lab/go/cert-manager holds the lab's own mains, built on the root module's packages at the same version.
    Paths, user and entrypoint as upstream's hack/containers/Containerfile.* (distroless static, USER 1000)."""
    v, mod = b.pins["CERT_MANAGER_VERSION"], "github.com/cert-manager/cert-manager"
    with tempfile.TemporaryDirectory() as tmp:  # the release commit, from the proxy's record of the tag
        got = subprocess.run(["go", "mod", "download", "-json", f"{mod}@{v}"], cwd=tmp, capture_output=True, text=True,
                             env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
    info = json.loads(got.stdout or "{}")
    if got.returncode != 0 or "Dir" not in info:
        raise BuildError(f"go mod download {mod}@{v} failed: {info.get('Error') or got.stderr.strip()}")
    src, commit = Path(info["Dir"]), info.get("Origin", {}).get("Hash", "")
    ld = f"-X {mod}/pkg/util.AppVersion={v} -X {mod}/pkg/util.AppGitCommit={commit}"
    specs = []
    for name in ("controller", "webhook", "cainjector", "acmesolver", "startupapicheck"):
        binary = b.go(f"cert-manager-{name}", v, "cert-manager", f"{mod}/kmetal-binaries/{name}", ld)
        path = "startupapicheck" if name == "startupapicheck" else f"app/cmd/{name}/{name}"
        layer = b.layer(f"cert-manager-{name}-{v}", [(path, tarfile.REGTYPE, 0o755, binary, {}),
                                                      ("licenses/LICENSE", tarfile.REGTYPE, 0o644, src / "LICENSE", {}),
                                                      ("licenses/LICENSES", tarfile.REGTYPE, 0o644, src / "LICENSES", {})])
        specs.append({"ref": f"quay.io/jetstack/cert-manager-{name}:{v}", "layers": [base, layer],
                      "config": {"User": "1000", "Entrypoint": [f"/{path}"]}})
    return specs


def capi_provider_images(b: Builder, base: Path) -> list:
    """The Cluster API providers' images not built above: the Kamaji control-plane provider (CACPK), tagged as
    its release manifest names it (docker.io/clastix/cluster-api-control-plane-provider-kamaji:<v>, the Makefile's
    IMG); as its Dockerfile: distroless static nonroot, /manager, CGO off. The version is the nearest the proxy
    serves with a Kamaji it also serves (lab/versions.env CACPK_VERSION)."""
    v = b.pins["CACPK_VERSION"]
    manager = b.go("cacpk-manager", v, "capi-kamaji", "github.com/clastix/cluster-api-control-plane-provider-kamaji")
    return [{"ref": f"docker.io/clastix/cluster-api-control-plane-provider-kamaji:{v}",
             "layers": [base, b.binary_layer(f"cluster-api-control-plane-provider-kamaji-{v}", {"manager": manager})],
             "config": {"User": "65532:65532", "WorkingDir": "/", "Entrypoint": ["/manager"]}}]


def build_all(builder: Builder, check_libraries: bool = True, platform: bool = True) -> dict:
    b, pins = builder, builder.pins
    kv, kv_prev = pins["KUBERNETES_VERSION"], pins["KUBERNETES_PREVIOUS_VERSION"]
    specs = []
    base, netfilter, shell = b.base_layer(), b.netfilter_layer(), b.shell_layer()

    def control_plane(version: str, wrapper: str, nodes: bool = True) -> None:
        bins = b.kubernetes(version, wrapper, nodes)
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"):
            layers = [base, netfilter] if c == "kube-proxy" else [base]
            layers.append(b.binary_layer(f"{c}-{version}", {f"usr/local/bin/{c}": bins[c]}))
            specs.append({"ref": f"registry.k8s.io/{c}:{version}", "layers": layers,
                          "config": {"Entrypoint": [f"/usr/local/bin/{c}"], "WorkingDir": "/"}})

    def etcd(pin: str, wrapper: str, etcdctl: bool) -> None:
        bins = b.etcd(pins[pin], wrapper, etcdctl)
        layer = b.binary_layer(f"etcd-{pins[pin]}", {f"usr/local/bin/{n}": p for n, p in bins.items()})
        specs.append({"ref": f"registry.k8s.io/etcd:{pins[pin].lstrip('v')}-0", "layers": [base, shell, layer],
                      "config": {"WorkingDir": "/", "ExposedPorts": {f"{p}/tcp": {} for p in (2379, 2380, 4001, 7001)}}})

    def pause(pv: str) -> None:
        layer = b.binary_layer(f"pause-{pv}", {"pause": b.pause(pv, kv)})
        specs.append({"ref": f"registry.k8s.io/pause:{pv}", "layers": [layer],
                      "config": {"Env": [PATH_ENV], "User": "65535:65535", "Entrypoint": ["/pause"]}})

    def coredns(cv: str, wrapper: str) -> None:
        binary = b.go("coredns", cv, wrapper, "github.com/coredns/coredns", f"-X github.com/coredns/coredns/coremain.GitCommit={cv}")
        specs.append({"ref": f"registry.k8s.io/coredns/coredns:{cv}", "layers": [base, b.binary_layer(f"coredns-{cv}", {"coredns": binary}, {"coredns"})],
                      "config": {"User": "nonroot:nonroot", "WorkingDir": "/", "ExposedPorts": {"53/tcp": {}, "53/udp": {}}, "Entrypoint": ["/coredns"]}})

    control_plane(kv, "kube")
    etcd("ETCD_IMAGE_VERSION", "etcd-v3.6.5", True)
    pause(pins["PAUSE_VERSION"])
    coredns(pins["COREDNS_VERSION"], "coredns")
    b.cni_plugins(pins["CNI_PLUGINS_VERSION"])
    b.crictl(pins["CRICTL_VERSION"])
    fv = pins["FLANNEL_VERSION"]
    flannel = b.flannel(fv)
    specs.append({"ref": f"ghcr.io/flannel-io/flannel:{fv}",
                  "layers": [base, netfilter, b.binary_layer(f"flannel-{fv}", {f"opt/bin/{n}": p for n, p in flannel.items()})],
                  "config": {"Entrypoint": ["/opt/bin/flanneld"]}})
    fcv = pins["FLANNEL_CNI_PLUGIN_VERSION"]
    fcni = b.go("flannel-cni-plugin", fcv, "cni-flannel", "github.com/containernetworking/plugins/plugins/meta/flannel",
                f"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={fcv}")
    specs.append({"ref": f"ghcr.io/flannel-io/flannel-cni-plugin:{pins['FLANNEL_CNI_PLUGIN_TAG']}",
                  "layers": [base, shell, b.binary_layer(f"flannel-cni-plugin-{fcv}", {"flannel": fcni})], "config": {"Cmd": ["/bin/sh"]}})
    vv = pins["KUBE_VIP_VERSION"]
    vip = b.go("kube-vip", vv, "kube-vip", "github.com/kube-vip/kube-vip", f"-X main.Version={vv}")
    specs.append({"ref": f"ghcr.io/kube-vip/kube-vip:{vv}", "layers": [base, b.binary_layer(f"kube-vip-{vv}", {"kube-vip": vip})],
                  "config": {"Entrypoint": ["/kube-vip"]}})
    b.containerd(pins["CONTAINERD_VERSION"])
    b.runc(pins["RUNC_VERSION"])
    # Stage by stage, images and index are written as soon as a stage is built: an interrupted cold build
    # leaves a usable cache (the pinned version's cluster first), and the next run carries on from there.
    b.images_write(specs, check_libraries)
    doc = b.index([s["ref"] for s in specs])
    if kv_prev:  # the upgrade source: the previous minor's binaries, release files and control-plane images
        control_plane(kv_prev, "kube-v1.33")
        etcd("ETCD_PREVIOUS_IMAGE_VERSION", "etcd-v3.5.24", False)
        pause(pins["PAUSE_PREVIOUS_VERSION"])
        coredns(pins["COREDNS_PREVIOUS_VERSION"], "coredns-v1.12.0")
        b.images_write(specs, check_libraries)
        doc = b.index([s["ref"] for s in specs])
    if platform:
        # The tenant control planes' images: Kamaji admits tenant versions up to the kubeadm it is built with
        # (v1.33.0 for KAMAJI_VERSION), so the tenants run their own versions, apart from the under cluster's.
        for pin in ("TENANT_KUBERNETES_VERSION", "TENANT_KUBERNETES_PREVIOUS_VERSION"):
            control_plane(pins[pin], f"kube-tenant-{pins[pin]}", nodes=False)
        specs += platform_images(b, base, shell)
        b.images_write(specs, check_libraries)
        doc = b.index([s["ref"] for s in specs], providers.build(b))
    return doc


def main(argv: list) -> int:
    if argv not in ([], ["--no-platform"]):
        print("usage: build-artifacts.sh [--no-platform]   (--no-platform: leave out the platform components' images)", file=sys.stderr)
        return 2
    builder = Builder(cache_dir(), versions())
    start = time.monotonic()
    try:
        doc = build_all(builder, platform=argv != ["--no-platform"])
    except BuildError as err:
        print(f"build-artifacts: {err}", file=sys.stderr)
        return 1
    total = round(time.monotonic() - start)
    built = sum(s for _, _, s, _ in builder.built)
    print(f"build-artifacts: {len(doc['files'])} files, {len(doc['images'])} images in {builder.cache}/artifacts.json "
          f"({len(builder.built)} builds, {built}s building, {total}s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
