"""Lab hosts: Debian bookworm machines booted with systemd-nspawn, each in its own network namespace.

A *set* of hosts shares a prefix (``lab`` for the demo, the scenario name for molecule) and gets:

- a management bridge with a host-side address (the controller reaches the hosts over SSH through it) and two
  data bridges with MTU 9216 (the lab's "switches"), all on this machine only;
- per host, a network namespace with three veth NICs: ``mgmt0`` (management), ``data0`` and ``data1`` (MTU 9216);
- per host, an overlay root filesystem on top of the cached debootstrap (the cache is built once and shared);
- the lab's SSH key (``.lab/ssh/id_ed25519``, mode 0600) in root's authorized_keys;
- what a kubelet needs (as a probe of a real kubeadm cluster in these hosts found): a private cgroup subtree in every
  hierarchy (cgroups.py), writable inside; the three kernel settings it insists on, bound over /proc/sys;
  /dev/kmsg; /var/lib/containerd and /var/lib/kubelet on ext4; the host's own resolv.conf; and an egress guard
  (nftables in the host's namespace) that keeps everything a host or its pods send inside the lab.

Addresses come from 198.18.0.0/15 only (reserved for benchmarking): set number K gets management subnet
198.18.K.0/24, the bridge takes .1 and host N takes .(10+N). Everything created is recorded in
``.lab/hosts/state.json``; ``down`` removes exactly what was recorded, and nothing else.
"""

import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from . import cgroups, paths
from .paths import LabError

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
DATA_MTU = 9216
MGMT_MTU = 1500
MIRROR_NET = ipaddress.ip_network("198.18.0.0/24")  # the lab mirror's network (lab/kmetal_lab/mirror.py), via the gateway
DATA_NICS = ("data0", "data1")
MAX_SETS = 200  # 198.18.1.0/24 .. 198.18.200.0/24 for management subnets
BOOT_TIMEOUT = 90
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
# The egress guard (an nftables table in each host's network namespace) lets a host's traffic, and its pods',
# reach only these ranges; everything else is dropped, so nothing a host or a pod does gets past this machine.
EGRESS_ALLOWED = (
    str(LAB_RANGE),   # management and data networks, the mirror (198.18.0.0/24), the VIP, MetalLB and provider ranges
    # The cluster ranges of inventories/lab/group_vars/all/network.yml and tenants.yml, and kubeadm's defaults
    # (the under cluster's pods and services talk across hosts; never routed past the lab).
    "10.93.0.0/16",   # kmetal_flannel_pod_cidr
    "10.244.0.0/16",  # Flannel's and kubeadm's default pod range; the lab tenants' pod_cidrs
    "10.96.0.0/12",   # kubeadm's default service range, holding kmetal_service_cidr 10.96.0.0/16
    "10.95.0.0/16",   # the lab tenants' service_cidrs
    "10.16.0.0/16",   # kmetal_kube_ovn_pod_cidr
    "100.64.0.0/16",  # kmetal_kube_ovn_join_cidr
)
EGRESS_TABLE = "kmetal_lab_egress"
# What a kubelet insists on and a host cannot set itself (/proc/sys is this machine's kernel, read-only inside):
# per-host files with these values are bound over the three files, /proc/sys itself stays read-only.
KUBELET_SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}
# Kept on the host's own ext4 directory, not on the overlay root: containerd's overlayfs snapshotter cannot stack
# on an overlay. Removed with the host.
DATA_DIRS = ("/var/lib/containerd", "/var/lib/kubelet")
CGROUP_UNIT = "kmetal-lab-cgroups.service"
PACKAGES_FILE = paths.LAB_SRC / "hosts" / "packages.txt"
BUILD_SCRIPT = paths.LAB_SRC / "hosts" / "build-rootfs.sh"


# --- state -----------------------------------------------------------------------------------------------------

def _dir() -> Path:
    return paths.lab_dir() / "hosts"


def _state_file() -> Path:
    return _dir() / "state.json"


@contextmanager
def _locked():
    """One `lab hosts` command at a time changes the state (molecule scenarios may run next to the demo)."""
    _dir().mkdir(parents=True, exist_ok=True)
    with open(_dir() / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _read_state() -> dict:
    try:
        return json.loads(_state_file().read_text())
    except FileNotFoundError:
        return {"sets": {}}
    except json.JSONDecodeError as err:
        raise LabError(f"{_state_file()} is corrupt ({err}); remove what it lists by hand, then delete it") from err


def _write_state(state: dict) -> None:
    _dir().mkdir(parents=True, exist_ok=True)
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(_state_file())


# --- helpers ---------------------------------------------------------------------------------------------------

def _run(*cmd: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise LabError(f"{tool} is not installed: run `make apt` (or apt-get install {package})")


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def _netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmd) and Path(cmd[0].decode()).name in ("systemd-nspawn", "nsenter")


def _mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def ssh_key() -> Path:
    """The lab's SSH key pair (generated once, 0600)."""
    key = paths.lab_dir() / "ssh" / "id_ed25519"
    if not key.exists():
        _need("ssh-keygen", "openssh-client")
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kmetal-lab", "-f", str(key))
    key.chmod(0o600)
    return key


# --- root filesystem -------------------------------------------------------------------------------------------

def rootfs() -> Path:
    """The cached debootstrap (built once per package list; about 2-4 minutes the first time)."""
    digest = hashlib.sha256(PACKAGES_FILE.read_bytes() + BUILD_SCRIPT.read_bytes()).hexdigest()[:12]
    base = paths.cache_dir() / "rootfs" / f"bookworm-{digest}"
    if (base / "usr" / "bin" / "python3").exists():
        return base
    _need("debootstrap", "debootstrap")
    base.parent.mkdir(parents=True, exist_ok=True)
    # The cache is shared by every checkout on this machine: one build at a time, the others wait for it.
    with open(base.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (base / "usr" / "bin" / "python3").exists():
            return base
        print(f"lab hosts: building the Debian bookworm root filesystem once into {base} (debootstrap, a few minutes)", flush=True)
        mirror = os.environ.get("KMETAL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        proc = subprocess.run([str(BUILD_SCRIPT), str(base), mirror])
        if proc.returncode != 0:
            raise LabError(f"debootstrap failed (see the output above); mirror {mirror} (set KMETAL_DEBIAN_MIRROR to change it)")
    return base


# --- one set of hosts ------------------------------------------------------------------------------------------

def _names(index: int, prefix: str, count: int) -> dict:
    """Every name a set uses, derived from its index (interface names are limited to 15 characters)."""
    subnet = ipaddress.ip_network(f"198.18.{index}.0/24")
    assert subnet.subnet_of(LAB_RANGE)
    hostbase = prefix.replace("_", "-")
    return {
        "index": index,
        "subnet": str(subnet),
        "gateway": str(subnet[1]),
        "bridges": {"mgmt": f"kmb{index}m", **{nic: f"kmb{index}{nic[0]}{nic[-1]}" for nic in DATA_NICS}},
        "hosts": [
            {
                "name": f"{hostbase}-{n}",
                "address": str(subnet[10 + n]),
                "netns": f"kmetal-{hostbase}-{n}",
                "veths": {"mgmt0": f"kmv{index}h{n}m", **{nic: f"kmv{index}h{n}{nic[0]}{nic[-1]}" for nic in DATA_NICS}},
            }
            for n in range(1, count + 1)
        ],
    }


def _make_bridge(name: str, mtu: int, address: str | None, created: list) -> None:
    if not _link_exists(name):
        _run("ip", "link", "add", name, "type", "bridge", "stp_state", "0")
        created.append(name)
    _run("ip", "link", "set", name, "mtu", str(mtu), "up")
    if address:
        have = _run("ip", "-o", "-4", "addr", "show", "dev", name).stdout
        if address.split("/")[0] not in have:
            _run("ip", "addr", "add", address, "dev", name)


def _write_host_files(root: Path, host: dict, subnet: str, pubkey: str) -> None:
    """Identity, SSH access, the management address and the route to the lab mirror, written before the first boot."""
    prefixlen = ipaddress.ip_network(subnet).prefixlen
    gateway = ipaddress.ip_network(subnet)[1]
    (root / "etc" / "hostname").write_text(host["name"] + "\n")
    hosts = root / "etc" / "hosts"
    hosts.write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{host['name']}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    ssh = root / "root" / ".ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    (ssh / "authorized_keys").chmod(0o600)
    # The management address as Debian 12's installer leaves it: an ifupdown stanza (networking.service brings it up;
    # networkd is installed, as part of systemd, but disabled). Written once, at the host's first boot: host_network
    # retires the stanza when it takes mgmt0 over, and a restart of the host must not bring it back.
    installed = root / "var" / "lib" / "kmetal-lab" / "installed"
    if not installed.exists():
        interfaces = root / "etc" / "network" / "interfaces"
        interfaces.parent.mkdir(parents=True, exist_ok=True)
        if "interfaces.d" not in (interfaces.read_text() if interfaces.exists() else ""):
            interfaces.write_text(
                "# The loopback network interface, and the others in interfaces.d (as Debian's installer writes it).\n"
                "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n"
            )
        stanzas = root / "etc" / "network" / "interfaces.d"
        stanzas.mkdir(parents=True, exist_ok=True)
        (stanzas / "mgmt0").write_text(
            "# Written by the kMetal lab (bin/lab hosts up), as a server's installer does: the management address the\n"
            "# controller reaches, and the route to the lab mirror (198.18.0.0/24, on this machine) through the set's gateway.\n"
            f"auto mgmt0\niface mgmt0 inet static\n    address {host['address']}/{prefixlen}\n"
            f"    up ip route replace {MIRROR_NET} via {gateway} dev mgmt0\n"
            f"    down ip route del {MIRROR_NET} via {gateway} dev mgmt0 || true\n"
        )
        installed.parent.mkdir(parents=True, exist_ok=True)
        installed.write_text("management NIC written for ifupdown\n")
    wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    if not (wants / "ssh.service").is_symlink():
        (wants / "ssh.service").symlink_to("/lib/systemd/system/ssh.service")
    if not list((root / "etc" / "ssh").glob("ssh_host_*_key")):
        _run("ssh-keygen", "-A", "-f", str(root))


def _write_kubelet_files(root: Path, subnet: str) -> None:
    """What a kubelet needs inside the host, written before each boot: its cgroup controllers writable, its own resolver."""
    system = root / "etc" / "systemd" / "system"
    system.mkdir(parents=True, exist_ok=True)
    # nspawn mounts the v1 controllers read-only; the host's cgroup namespace is rooted in its own cgroups (see
    # cgroups.py), so making them writable lets its kubelet and runc manage only the host's own subtree.
    script = root / "usr" / "local" / "sbin" / "kmetal-lab-cgroups-rw"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "#!/bin/sh\n# Written by the kMetal lab (bin/lab hosts up): every cgroup v1 controller of this host writable.\nset -e\n"
        "awk '$3 == \"cgroup\" && $4 !~ /name=/ {print $2}' /proc/self/mounts | while read -r m; do\n"
        "  mount -o remount,bind,rw \"$m\"\ndone\n"
    )
    script.chmod(0o755)
    (system / CGROUP_UNIT).write_text(
        "# Written by the kMetal lab (bin/lab hosts up).\n"
        "[Unit]\nDescription=kMetal lab: cgroup controllers writable (kubelet, containerd)\nDefaultDependencies=no\n"
        "Before=sysinit.target containerd.service kubelet.service\n\n"
        f"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/{script.name}\n\n"
        "[Install]\nWantedBy=sysinit.target\n"
    )
    wants = system / "sysinit.target.wants"
    wants.mkdir(exist_ok=True)
    if not (wants / CGROUP_UNIT).is_symlink():
        (wants / CGROUP_UNIT).symlink_to(f"/etc/systemd/system/{CGROUP_UNIT}")
    # nspawn runs with --resolv-conf=off (its copy would send containerd's and CoreDNS's queries to this machine's
    # resolver); debootstrap left this machine's file in the root filesystem. The host asks the lab's gateway
    # instead, like a server told its site's resolver by the installer (not loopback: CoreDNS would see a loop).
    resolv = root / "etc" / "resolv.conf"
    machine = Path("/etc/resolv.conf").read_text() if Path("/etc/resolv.conf").is_file() else None
    if not resolv.is_symlink() and (not resolv.exists() or resolv.read_text() == machine):
        resolv.write_text(f"# Written by the kMetal lab (bin/lab hosts up): the lab's gateway.\nnameserver {ipaddress.ip_network(subnet)[1]}\n")


def _kubelet_mounts(hostdir: Path) -> list[str]:
    """nspawn options binding the host's data directories (ext4) and the kubelet's kernel settings into it."""
    opts = []
    for target in DATA_DIRS:
        src = hostdir / "data" / target.strip("/").replace("/", "-")
        src.mkdir(parents=True, exist_ok=True)
        opts.append(f"--bind={src}:{target}")
    sysctl = hostdir / "sysctl"
    sysctl.mkdir(exist_ok=True)
    # nspawn binds over /proc from inside the container (after it mounted /proc there): the files are first bound
    # read-only into the host, then from there over the /proc/sys files.
    inside = "/etc/kmetal-lab/sysctl"
    opts.append(f"--bind-ro={sysctl}:{inside}")
    for key, value in KUBELET_SYSCTLS.items():
        name = key.replace("/", ".")
        (sysctl / name).write_text(value + "\n")
        opts.append(f"--bind-ro={inside}/{name}:/proc/sys/{key}")
    return opts


def _egress_guard(netns: str) -> None:
    """The host's egress guard: output and forwarded traffic leaves its namespace only for EGRESS_ALLOWED."""
    allowed = ", ".join(EGRESS_ALLOWED)
    ruleset = (
        # Declared, deleted and declared again in one transaction: re-applying replaces it atomically.
        f"table inet {EGRESS_TABLE}\ndelete table inet {EGRESS_TABLE}\n"
        f"table inet {EGRESS_TABLE} {{\n"
        f"  set allowed {{ type ipv4_addr; flags interval; elements = {{ {allowed} }}; }}\n"
        "  chain output {\n    type filter hook output priority filter; policy drop;\n"
        '    oif "lo" accept\n    ip daddr @allowed accept\n'
        # IPv6 link-local and link-scope multicast (neighbour discovery) cannot leave the lab's bridges.
        "    ip6 daddr { fe80::/10, ff02::/16 } accept\n    counter drop\n  }\n"
        "  chain forward {\n    type filter hook forward priority filter; policy drop;\n"
        "    ip daddr @allowed accept\n    ip6 daddr { fe80::/10, ff02::/16 } accept\n    counter drop\n  }\n"
        "}\n"
    )
    proc = subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=ruleset, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabError(f"the egress guard of {netns} was refused by nft ({proc.returncode}): {proc.stderr.strip()}")


def _host_init(nspawn: int, dirs: list[str]) -> int | None:
    """The host's init: PID 1 of its PID namespace, a child of nspawn (or, nspawn gone, a process of its cgroups)."""
    candidates = set(cgroups.pids(dirs))
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{nspawn}\n" in status.read_text():
                candidates.add(int(status.parent.name))
        except OSError:
            continue
    for pid in sorted(candidates):
        try:
            nspid = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("NSpid:"))
        except (OSError, StopIteration):
            continue
        if len(nspid.split()) > 2 and nspid.split()[-1] == "1":
            return pid
    return None


def _boot(host: dict, base: Path, hostdir: Path, subnet: str, pubkey: str, cgroup_dirs: list[str]) -> int:
    upper, work, root = hostdir / "upper", hostdir / "work", hostdir / "root"
    for d in (upper, work, root):
        d.mkdir(parents=True, exist_ok=True)
    if not _mounted(root):
        _run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={upper},workdir={work}", str(root))
    _write_host_files(root, host, subnet, pubkey)
    _write_kubelet_files(root, subnet)
    # nspawn started inside the namespace (nsenter execs it, so the PID is nspawn's): the container's
    # sysfs is then mounted from within the namespace and /sys/class/net lists the host's own NICs.
    cmd = [
        "nsenter", f"--net=/run/netns/{host['netns']}",
        "systemd-nspawn", "--register=no", "--keep-unit", "--quiet",
        "-D", str(root), "-b", f"--machine={host['name']}",
        f"--network-namespace-path=/run/netns/{host['netns']}",
        "--console=read-only",
        # What a server's root has and the roles need: net admin is implied by the private network; keep module
        # loading attempts honest (the kernel refuses them) and let containerd run containers.
        "--capability=all",
        "--drop-capability=CAP_SYS_TIME",  # the clock is this machine's: no lab host may set it
        # add_key/keyctl: runc's session keyrings; bpf: runc's device filters and the kubelet's cgroup checks.
        "--system-call-filter=@system-service @mount @module @raw-io @privileged add_key keyctl bpf",
        "--bind-ro=/dev/kmsg",  # the kubelet's OOM watcher reads the kernel log
        # Not this machine's resolver (nspawn would copy it in): the host's own file (_write_kubelet_files).
        "--resolv-conf=off",
        *_kubelet_mounts(hostdir),
    ]
    if Path("/dev/kvm").exists():
        cmd.append("--bind=/dev/kvm")
    log = open(hostdir / "console.log", "ab")
    # The namespace's own net sysctls writable (forwarding, rp_filter...), as on a server; the rest of /proc/sys
    # stays read-only (that kernel is this machine's).
    env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
    # Started inside the host's own cgroups (moved there between fork and exec): the host's cgroup namespace is
    # rooted there, not in the caller's cgroup that every host would share.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                            preexec_fn=lambda: cgroups.enter(cgroup_dirs))
    return proc.pid


# The inotify limits are per user of this machine's kernel, shared by every lab host: a few nodes' systemd,
# kubelets and kube-proxies exhaust the default 128 instances ("too many open files"). Raised, never lowered, as
# kind advises for the same reason.
INOTIFY_MINIMUMS = {"max_user_instances": 1024, "max_user_watches": 524288}


def _raise_inotify_limits() -> None:
    for name, minimum in INOTIFY_MINIMUMS.items():
        path = Path("/proc/sys/fs/inotify") / name
        try:
            if int(path.read_text()) < minimum:
                path.write_text(f"{minimum}\n")
        except OSError as err:
            raise LabError(f"cannot raise {path} to {minimum} ({err}): lab hosts running a kubelet need it") from err


def _ssh_ready(address: str, key: Path) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1):
            pass
    except OSError:
        return False
    proc = subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", f"root@{address}", "systemctl is-system-running --wait >/dev/null; true"],
        capture_output=True, timeout=60,
    )
    return proc.returncode == 0


def _host_running(host: dict) -> bool:
    return _alive(host.get("pid")) and _netns_exists(host["netns"])


def up(count: int, prefix: str = "lab") -> dict:
    """Start COUNT hosts named PREFIX-1..PREFIX-COUNT (reusing the running ones) and wait until SSH answers."""
    if not NAME_RE.match(prefix):
        raise LabError(f"prefix {prefix!r} is not a valid name: use lowercase letters, digits, '-' or '_' (at most 31)")
    if not 1 <= count <= 9:
        raise LabError(f"count {count} is out of range: a set has 1 to 9 hosts")
    if os.geteuid() != 0:
        raise LabError("lab hosts need root (network namespaces, bridges, mounts, systemd-nspawn)")
    for tool, package in (("systemd-nspawn", "systemd-container"), ("ip", "iproute2"), ("ssh", "openssh-client"), ("nft", "nftables")):
        _need(tool, package)
    base = rootfs()
    key = ssh_key()
    _raise_inotify_limits()
    pubkey = key.with_suffix(".pub").read_text()
    with _locked():
        state = _read_state()
        sets = state["sets"]
        existing = sets.get(prefix)
        if existing:
            index = existing["index"]
        else:
            # Set 1 (198.18.1.0/24) is the demo's ("lab"), so inventories/lab/hosts.yml can name its addresses.
            used = {s["index"] for s in sets.values()} | ({1} if prefix != "lab" else set())
            # Another checkout's lab (its own state file) may hold a set: its management bridge tells.
            free = (i for i in range(2, MAX_SETS + 1) if i not in used and not _link_exists(f"kmb{i}m"))
            index = 1 if prefix == "lab" else next(free, None)
            if prefix == "lab" and 1 in {s["index"] for s in sets.values()}:
                raise LabError("set index 1 is taken by another prefix in the state file; `bin/lab hosts down --all` and retry")
            if index is None:
                raise LabError(f"all {MAX_SETS} lab host sets are in use: `bin/lab hosts down --prefix NAME` some")
        want = _names(index, prefix, max(count, len(existing["hosts"]) if existing else 0))
        record = existing or {"index": index, "subnet": want["subnet"], "gateway": want["gateway"], "bridges": [], "hosts": {}}
        record["rootfs"] = str(base)
        sets[prefix] = record
        _write_state(state)  # record before creating anything, so a failure half-way can be torn down
        created: list = []
        try:
            _make_bridge(want["bridges"]["mgmt"], MGMT_MTU, f"{want['gateway']}/24", created)
            for nic in DATA_NICS:
                _make_bridge(want["bridges"][nic], DATA_MTU, None, created)
        finally:
            record["bridges"] = sorted(set(record["bridges"]) | set(created) | {b for b in want["bridges"].values() if _link_exists(b)})
            _write_state(state)
        starting = []
        for host in want["hosts"][:count]:
            rec = record["hosts"].get(host["name"])
            if rec and _host_running(rec):
                continue
            if rec:  # recorded but dead: clean it first
                _teardown_host(rec)
            hostdir = _dir() / prefix / host["name"]
            rec = {**host, "dir": str(hostdir), "pid": None}
            record["hosts"][host["name"]] = rec
            _write_state(state)
            if not _netns_exists(host["netns"]):
                _run("ip", "netns", "add", host["netns"])
            _run("ip", "-n", host["netns"], "link", "set", "lo", "up")
            for nic, veth in host["veths"].items():
                if not _link_exists(veth):
                    _run("ip", "link", "add", veth, "type", "veth", "peer", "name", nic, "netns", host["netns"])
                mtu = MGMT_MTU if nic == "mgmt0" else DATA_MTU
                bridge = want["bridges"][nic if nic != "mgmt0" else "mgmt"]
                _run("ip", "link", "set", veth, "mtu", str(mtu), "master", bridge, "up")
                _run("ip", "-n", host["netns"], "link", "set", nic, "mtu", str(mtu))
            _egress_guard(host["netns"])
            rec["cgroups"] = cgroups.create(host["netns"])
            _write_state(state)
            rec["pid"] = _boot(host, base, hostdir, want["subnet"], pubkey, rec["cgroups"])
            _write_state(state)
            starting.append(rec)
        deadline = time.monotonic() + BOOT_TIMEOUT
        for rec in starting:
            while not _ssh_ready(rec["address"], key):
                if not _alive(rec["pid"]):
                    tail = (Path(rec["dir"]) / "console.log").read_text(errors="replace")[-1500:]
                    raise LabError(f"{rec['name']}: systemd-nspawn exited while booting; console:\n{tail}")
                if time.monotonic() > deadline:
                    raise LabError(f"{rec['name']}: SSH on {rec['address']} did not answer within {BOOT_TIMEOUT}s; see {rec['dir']}/console.log")
                time.sleep(1)
        _write_inventory(prefix, record, key)
        return record


def _write_inventory(prefix: str, record: dict, key: Path) -> None:
    """A ready-to-use inventory of the set (.lab/hosts/PREFIX.yml): molecule and tests read it."""
    import yaml

    hosts = {
        name: {"ansible_host": h["address"]}
        for name, h in sorted(record["hosts"].items())
        if _host_running(h)
    }
    names = sorted(hosts)
    inventory = {
        "all": {
            "children": {
                "kmetal_nodes": {
                    "children": {
                        # The first host is the control plane (one: an odd count), the others are workers.
                        "kmetal_control_plane": {"hosts": {n: hosts[n] for n in names[:1]}},
                        "kmetal_workers": {"hosts": {n: hosts[n] for n in names[1:]}},
                    }
                }
            },
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
                "kmetal_lab_set": prefix,
                "kmetal_lab_management_subnet": record["subnet"],
                "kmetal_lab_controller_address": record["gateway"],
            },
        }
    }
    (_dir() / f"{prefix}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))


def _teardown_host(rec: dict) -> None:
    pid, dirs = rec.get("pid"), rec.get("cgroups", [])
    # Not SIGTERM (a host with pods waits ~90 s to power off), nor SIGKILL to nspawn alone (its init and pods
    # would live on): killing the host's init ends its whole PID namespace, and nspawn exits with it.
    init = _host_init(pid, dirs) if _alive(pid) or dirs else None
    if init:
        os.kill(init, signal.SIGKILL)
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # Anything still in the host's cgroups (nspawn, a process that outlived the namespace) goes too.
    left = cgroups.kill(dirs)
    if left:
        raise LabError(f"{rec['name']}: processes {sorted(left)} would not die; its cgroups {dirs} stay")
    stuck = cgroups.remove(dirs)
    root = Path(rec["dir"]) / "root"
    if _mounted(root):
        _run("umount", "-R", str(root), check=False)
        if _mounted(root):
            _run("umount", "-l", str(root), check=False)
    if _netns_exists(rec["netns"]):
        _run("ip", "netns", "del", rec["netns"], check=False)  # takes the in-namespace veth ends with it
    for veth in rec.get("veths", {}).values():
        if _link_exists(veth):
            _run("ip", "link", "del", veth, check=False)
    shutil.rmtree(rec["dir"], ignore_errors=True)
    if stuck:
        raise LabError(f"{rec['name']}: cannot remove the cgroups {stuck}; remove them by hand (rmdir, deepest first)")


def down(prefix: str | None = "lab") -> list[str]:
    """Remove the recorded containers, namespaces, links and overlays of PREFIX (every set when None)."""
    removed = []
    with _locked():
        state = _read_state()
        for name in [prefix] if prefix else list(state["sets"]):
            record = state["sets"].get(name)
            if not record:
                continue
            for rec in record["hosts"].values():
                _teardown_host(rec)
                removed.append(rec["name"])
            for bridge in record["bridges"]:
                if _link_exists(bridge):
                    _run("ip", "link", "del", bridge, check=False)
            shutil.rmtree(_dir() / name, ignore_errors=True)
            (_dir() / f"{name}.yml").unlink(missing_ok=True)
            del state["sets"][name]
            _write_state(state)
    return removed


def status() -> dict:
    state = _read_state()
    out = {}
    for name, record in state["sets"].items():
        out[name] = {
            "subnet": record["subnet"],
            "controller_address": record["gateway"],
            "inventory": str(_dir() / f"{name}.yml"),
            "hosts": {h: {"address": r["address"], "pid": r.get("pid"), "running": _host_running(r)} for h, r in record["hosts"].items()},
        }
    return out
