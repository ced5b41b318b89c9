# Managed by kmetal.platform.host_network: the host side of a safe network change (run with python3).
#
#   kmetal-network checkpoint            snapshot the live kmetal-managed files (before they are rewritten)
#   kmetal-network status                JSON: whether the live files differ from the last confirmed apply
#   kmetal-network apply RENDERER SECS [--restart] LINK...
#                                        arm the rollback timer (SECS), then reload the renderer in a detached unit
#   kmetal-network settle                JSON: once the detached reload has finished, its result and the live
#                                        links and routes (the controller compares them with the profiles)
#   kmetal-network confirm               the controller reached the host through the settled new configuration:
#                                        disarm the timer, record the apply
#   kmetal-network rollback              restore the checkpoint and reload (what the timer runs by itself)
#   kmetal-network retire [--dry-run] LINK...
#                                        JSON: take LINKs over from ifupdown: comment out their stanzas (auto,
#                                        allow-*, iface blocks) and disable networking.service once no stanza but
#                                        lo's is left; run between checkpoint and apply, so a rollback restores them
#
# Like `netplan try`: if the controller does not confirm within SECS, the host restores its previous
# configuration on its own, so a change that cuts the management path heals itself.
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

SELF = [sys.executable, os.path.abspath(__file__)]

STATE = "/var/lib/kmetal/host_network"
RUN = "/run/kmetal-network"
CHECKPOINT = f"{STATE}/checkpoint.tar"
APPLIED = f"{STATE}/applied.sha256"
ROLLED_BACK = f"{STATE}/rolled-back.json"
# ifupdown, the manager Debian's installer leaves on a server's NICs: its files are in the checkpoint too.
IFUPDOWN_DIR = "/etc/network"
RETIRED_MARK = "#kmetal-retired# "
TIMER_UNIT = "kmetal-network-rollback"
APPLY_UNIT = "kmetal-network-apply"
# Where each renderer's kmetal files live (the name prefix marks them as ours; nothing else is touched).
DIRS = {
    "/etc/systemd/network": ("50-kmetal-",),
    "/etc/NetworkManager/system-connections": ("kmetal-",),
    "/etc/NetworkManager/conf.d": ("50-kmetal",),
    "/etc/netplan": ("60-kmetal",),
}


def managed(renderers_only=False):
    files = []
    for d, prefixes in DIRS.items():
        if renderers_only and d.endswith("conf.d"):
            continue
        if os.path.isdir(d):
            files += sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith(prefixes))
    return files


def digest():
    h = hashlib.sha256()
    for path in managed():
        h.update(path.encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read() + b"\0")
    return h.hexdigest()


def run(*cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def active(unit):
    return run("systemctl", "is-active", "--quiet", unit, check=False).returncode == 0


def links():
    return sorted(os.listdir("/sys/class/net"))


def reload(renderer, wanted, restart=False):
    """Make the renderer read its files and (re)configure the links; only disruptive with restart."""
    present = [link for link in wanted if os.path.exists(f"/sys/class/net/{link}")]
    # A host switching renderer: the other service forgets the kmetal files just removed from its directory.
    if renderer == "networkmanager" and active("systemd-networkd.service"):
        run("networkctl", "reload", check=False)
    if renderer in ("networkd", "netplan") and active("NetworkManager.service"):
        run("nmcli", "connection", "reload", check=False)
    if renderer == "netplan":
        run("netplan", "generate")
        renderer = "networkd"
    if renderer == "networkd":
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 1))
        if restart:
            run("systemctl", "restart", "systemd-networkd.service")
        else:
            run("networkctl", "reload")
            if present:
                run("networkctl", "reconfigure", *present)
        # networkd's own parser: what it says about our files while loading them.
        time.sleep(0.5)
        log = run("journalctl", "-q", "-o", "cat", "-u", "systemd-networkd.service", "--since", since, check=False).stdout
        rejected = [line for line in log.splitlines() if "kmetal" in line and ("nknown" in line or "ailed to parse" in line or "nvalid" in line)]
        if rejected:
            raise RuntimeError("systemd-networkd rejected lines of the rendered files: " + "; ".join(rejected))
    elif renderer == "networkmanager":
        if restart:
            run("systemctl", "restart", "NetworkManager.service")
        run("nmcli", "connection", "reload")
        # NetworkManager's own keyfile parser: a file it cannot read fails the apply (and rolls it back).
        files = [f for f in managed() if f.endswith(".nmconnection")]
        if files:
            run("nmcli", "connection", "load", *files)
        for link in wanted:
            if os.path.exists(f"/etc/NetworkManager/system-connections/kmetal-{link}.nmconnection"):
                run("nmcli", "--wait", "20", "connection", "up", f"kmetal-{link}")
    else:
        raise RuntimeError(f"unknown renderer {renderer}")


def ifupdown_files():
    """/etc/network/interfaces and the files of interfaces.d (where stanzas live on Debian and its cloud images)."""
    files = []
    if os.path.isfile(f"{IFUPDOWN_DIR}/interfaces"):
        files.append(f"{IFUPDOWN_DIR}/interfaces")
    d = f"{IFUPDOWN_DIR}/interfaces.d"
    if os.path.isdir(d):
        files += sorted(os.path.join(d, f) for f in os.listdir(d) if os.path.isfile(os.path.join(d, f)))
    return files


def enabled(unit):
    return run("systemctl", "is-enabled", "--quiet", unit, check=False).returncode == 0


def checkpoint():
    os.makedirs(STATE, exist_ok=True)
    tmp = CHECKPOINT + ".tmp"
    with tarfile.open(tmp, "w") as tar:
        for path in managed() + ifupdown_files():
            tar.add(path)
    os.replace(tmp, CHECKPOINT)
    with open(f"{STATE}/checkpoint.json", "w") as f:
        json.dump({"networking_enabled": enabled("networking.service"), "ifupdown": ifupdown_files()}, f)
    print(json.dumps({"checkpoint": CHECKPOINT, "files": managed()}))


KEYWORDS = ("iface", "mapping", "auto", "allow-", "source", "rename", "no-auto-down", "no-scripts", "template")


def retire_text(text, names):
    """TEXT of an ifupdown file with the stanzas of NAMES commented out; returns (new text, names found)."""
    out, found, in_block = [], set(), False
    for line in text.splitlines(keepends=True):
        words = line.split()
        top = bool(words) and words[0].startswith(KEYWORDS)
        if top:
            in_block = False
        if top and words[0] == "iface" and len(words) > 1 and words[1] in names:
            in_block = True
            found.add(words[1])
            out.append(RETIRED_MARK + line)
        elif top and (words[0] == "auto" or words[0].startswith("allow-")) and set(words[1:]) & set(names):
            found |= set(words[1:]) & set(names)
            keep = [w for w in words[1:] if w not in names]
            out.append(RETIRED_MARK + line)
            if keep:
                out.append(" ".join([words[0], *keep]) + "\n")
        elif in_block and words and not words[0].startswith("#"):
            out.append(RETIRED_MARK + line)
        else:
            out.append(line)
    return "".join(out), found


def live_stanzas(text):
    """The interfaces that still have an iface stanza in TEXT."""
    return {line.split()[1] for line in text.splitlines() if line.startswith("iface ") and len(line.split()) > 1}


def retire(names, dry_run=False):
    retired, left = {}, set()
    for path in ifupdown_files():
        with open(path) as f:
            text = f.read()
        new, found = retire_text(text, names)
        for name in found:
            retired.setdefault(name, []).append(path)
        left |= live_stanzas(new)
        if new != text and not dry_run:
            tmp = path + ".kmetal-tmp"
            with open(tmp, "w") as f:
                f.write(new)
            shutil.copymode(path, tmp)
            os.replace(tmp, path)
    # networking.service brings up what ifupdown still manages: nothing once only lo is left (systemd brings lo up).
    disable = not (left - {"lo"}) and os.path.exists("/lib/systemd/system/networking.service") and enabled("networking.service")
    if disable and not dry_run:
        run("systemctl", "disable", "--quiet", "networking.service")
    if not dry_run:
        os.makedirs(RUN, exist_ok=True)
        with open(f"{RUN}/retired", "w") as f:
            f.write(" ".join(sorted(retired)))
    print(json.dumps({"retired": retired, "networking_disabled": disable, "changed": bool(retired) or disable}))


def status():
    try:
        with open(APPLIED) as f:
            applied = f.read().strip()
    except FileNotFoundError:
        applied = None
    rolled = None
    if os.path.exists(ROLLED_BACK):
        with open(ROLLED_BACK) as f:
            rolled = json.load(f)
    timer = run("systemctl", "is-active", f"{TIMER_UNIT}.timer", check=False).stdout.strip()
    print(json.dumps({"pending": applied != digest(), "applied": applied, "live": digest(), "rolled_back": rolled, "timer": timer,
                      "files": managed(renderers_only=True)}))


def apply(renderer, seconds, restart, wanted):
    os.makedirs(RUN, exist_ok=True)
    if os.path.exists(ROLLED_BACK):
        os.remove(ROLLED_BACK)
    result = f"{RUN}/apply.json"
    if os.path.exists(result):
        os.remove(result)
    run("systemctl", "stop", f"{TIMER_UNIT}.timer", check=False)
    run("systemctl", "reset-failed", f"{TIMER_UNIT}.service", f"{TIMER_UNIT}.timer", check=False)
    with open(f"{RUN}/links", "w") as f:
        f.write(" ".join(sorted(set(wanted) | set(links()))))
    with open(f"{RUN}/renderer", "w") as f:
        f.write(renderer)
    armed = time.time()
    run("systemd-run", f"--unit={TIMER_UNIT}", f"--on-active={seconds}", "--timer-property=AccuracySec=100ms",
        "--description=kmetal host_network: roll back unless the controller confirms", *SELF, "rollback")
    # Detached, so the change can cut this SSH session without killing the reload half-way.
    run("systemd-run", f"--unit={APPLY_UNIT}-{int(armed * 1000)}", "--collect", "--no-block", "--service-type=oneshot",
        *SELF, "_reload", renderer, "1" if restart else "0", *wanted)
    print(json.dumps({"armed_at": armed, "rollback_after": seconds}))


def _reload(renderer, restart, wanted):
    out = {"ok": True, "error": None, "at": time.time()}
    try:
        reload(renderer, wanted, restart == "1")
    except (RuntimeError, OSError) as err:
        out = {"ok": False, "error": str(err), "at": time.time()}
    with open(f"{RUN}/apply.json", "w") as f:
        json.dump(out, f)


def settle(wait=30):
    """The reload's result and the live state, once the reload has finished (or the host rolled back)."""
    deadline = time.time() + wait
    while not os.path.exists(f"{RUN}/apply.json") and not os.path.exists(ROLLED_BACK) and time.time() < deadline:
        time.sleep(0.2)
    result = {"done": False, "ok": None, "error": "the reload has not finished"}
    if os.path.exists(ROLLED_BACK):
        with open(ROLLED_BACK) as f:
            result = {"done": True, "ok": False, "error": "the host had already rolled back", "rolled_back": json.load(f)}
    elif os.path.exists(f"{RUN}/apply.json"):
        with open(f"{RUN}/apply.json") as f:
            result = {"done": True, **json.load(f)}
    # networkd and NetworkManager finish configuring links after the reload returns: the controller polls this
    # until the live state matches the profiles, and only then confirms.
    result["addr"] = json.loads(run("ip", "-j", "-d", "addr", "show").stdout)
    result["route"] = json.loads(run("ip", "-j", "route", "show", "table", "main").stdout)
    print(json.dumps(result))


def confirm():
    # The controller got through; let the reload finish (it may still be activating profiles) before disarming.
    deadline = time.time() + 90
    while not os.path.exists(f"{RUN}/apply.json") and not os.path.exists(ROLLED_BACK) and time.time() < deadline:
        time.sleep(0.5)
    run("systemctl", "stop", f"{TIMER_UNIT}.timer", check=False)
    if os.path.exists(ROLLED_BACK):
        # Too late: the timer fired before the controller got through, so the change did cut it off.
        with open(ROLLED_BACK) as f:
            print(json.dumps({"ok": False, "rolled_back": json.load(f), "error": "the host had already rolled back"}))
        return 3
    try:
        with open(f"{RUN}/apply.json") as f:
            result = json.load(f)
    except FileNotFoundError:
        result = {"ok": None, "error": "the reload has not finished"}
    if result.get("ok"):
        with open(APPLIED, "w") as f:
            f.write(digest())
    print(json.dumps(result))
    return 0 if result.get("ok") else 1


def rollback():
    started = time.time()
    run("systemctl", "stop", f"{TIMER_UNIT}.timer", check=False)
    for path in managed():
        os.remove(path)
    if os.path.exists(CHECKPOINT):
        with tarfile.open(CHECKPOINT) as tar:
            if hasattr(tarfile, "tar_filter"):
                tar.extractall("/", filter="tar")
            else:
                tar.extractall("/")
    renderer = open(f"{RUN}/renderer").read().strip() if os.path.exists(f"{RUN}/renderer") else "networkd"
    wanted = open(f"{RUN}/links").read().split() if os.path.exists(f"{RUN}/links") else links()
    retired = open(f"{RUN}/retired").read().split() if os.path.exists(f"{RUN}/retired") else []
    before = {}
    if os.path.exists(f"{STATE}/checkpoint.json"):
        with open(f"{STATE}/checkpoint.json") as f:
            before = json.load(f)
    errors = []
    try:
        reload(renderer, wanted)
    except (RuntimeError, OSError) as err:
        errors.append(str(err))
    # The interfaces this change took from ifupdown go back to it (their stanzas are restored above).
    try:
        if before.get("networking_enabled") and not enabled("networking.service"):
            run("systemctl", "enable", "--quiet", "networking.service")
        for link in retired:
            if os.path.exists(f"/sys/class/net/{link}"):
                run("ifdown", "--force", link, check=False)
                run("ifup", link)
    except (RuntimeError, OSError) as err:
        errors.append(str(err))
    error = "; ".join(errors) or None
    with open(APPLIED, "w") as f:
        f.write(digest())
    with open(ROLLED_BACK, "w") as f:
        json.dump({"at": started, "error": error}, f)
    print(f"kmetal-network: rolled back to the checkpoint ({error or 'ok'})")


def main(argv):
    if not argv:
        print(__doc__ or "usage: see the header of this file", file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "checkpoint":
        checkpoint()
    elif cmd == "status":
        status()
    elif cmd == "apply":
        restart = "--restart" in args
        args = [a for a in args if a != "--restart"]
        apply(args[0], int(args[1]), restart, args[2:])
    elif cmd == "_reload":
        _reload(args[0], args[1], args[2:])
    elif cmd == "settle":
        settle()
    elif cmd == "confirm":
        return confirm()
    elif cmd == "rollback":
        rollback()
    elif cmd == "retire":
        retire([a for a in args if a != "--dry-run"], dry_run="--dry-run" in args)
    else:
        print(f"kmetal-network: unknown command {cmd}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
