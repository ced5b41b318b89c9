"""`lab` command line: the lab API (a real kube-apiserver with the upstream CRDs), the lab hosts and the lab mirror."""

import argparse
import json
import sys

from . import api, crds, hosts, mirror
from .paths import LabError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description="The kMetal lab: a real kube-apiserver with the upstream CRDs on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True)
    upp = sub.add_parser("up", help="start the lab API (or reuse the healthy one) and install the upstream CRDs")
    upp.add_argument("--no-crds", action="store_true", help="do not install the upstream CRDs")
    sub.add_parser("down", help="stop the processes the lab started and remove its data")
    st = sub.add_parser("status", help="show the lab's processes and readiness")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    hs = sub.add_parser("hosts", help="lab hosts: Debian machines (systemd-nspawn) reached over SSH")
    hsub = hs.add_subparsers(dest="hosts_command", required=True)
    hup = hsub.add_parser("up", help="start N hosts PREFIX-1..PREFIX-N (running ones are reused)")
    hup.add_argument("count", type=int)
    hup.add_argument("--prefix", default="lab", help="name of the set of hosts (default: lab)")
    hdown = hsub.add_parser("down", help="remove the hosts, namespaces, links and bridges the set made")
    hdown.add_argument("--prefix", default="lab", help="name of the set (default: lab)")
    hdown.add_argument("--all", action="store_true", help="every set the lab recorded")
    hst = hsub.add_parser("status", help="show the sets of hosts")
    hst.add_argument("--json", action="store_true", help="print the status as JSON")
    ms = sub.add_parser("mirror", help="the lab mirror: registry, file server and Debian repository on 198.18.0.1, filled from the cache")
    msub = ms.add_subparsers(dest="mirror_command", required=True)
    mup = msub.add_parser("up", help="start the mirror (or reuse the healthy one) and fill it with the manifest's artifacts")
    mup.add_argument("--manifest", help="the site's artifact manifest (default: computed from inventories/lab by the kmetal.platform.artifacts playbook)")
    msub.add_parser("down", help="stop what `mirror up` started and remove the bridge address it added")
    mst = msub.add_parser("status", help="show the mirror's processes and whether they answer (exit 3 when not running)")
    mst.add_argument("--json", action="store_true", help="print the status as JSON")
    sub.add_parser("crds", help="print the table of upstream CRDs (lab/crds.yml) as Markdown")
    args = parser.parse_args(argv)
    try:
        if args.command == "hosts":
            return _hosts(args)
        if args.command == "mirror":
            return _mirror(args)
        if args.command == "up":
            info = api.up(install_crds=not args.no_crds)
            print(f"export KUBECONFIG={info.kubeconfig}")
        elif args.command == "crds":
            print(crds.markdown_table())
        elif args.command == "down":
            api.down()
        elif args.command == "status":
            state = api.status()
            if args.json:
                print(json.dumps(state, indent=2))
            elif not state.get("processes"):
                print("lab: not running")
            else:
                print(f"lab API  {state['server']}  {'ready' if state['running'] else 'NOT READY'}  {state['version'] or ''}")
                for name, proc in state["processes"].items():
                    print(f"  {name:<24} pid {proc['pid']!s:<8} {'running' if proc['alive'] else 'stopped'}")
                print(f"  kubeconfig {state['kubeconfig']}")
            return 0 if state["running"] else 3
    except LabError as err:
        print(f"lab: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _hosts(args) -> int:
    if args.hosts_command == "up":
        record = hosts.up(args.count, args.prefix)
        for name, host in sorted(record["hosts"].items()):
            print(f"{name:<20} {host['address']:<16} ssh root@{host['address']}")
        print(f"inventory: {hosts._dir() / (args.prefix + '.yml')}")
    elif args.hosts_command == "down":
        removed = hosts.down(None if args.all else args.prefix)
        print(f"lab hosts: removed {', '.join(removed) if removed else 'nothing (no such set)'}")
    else:
        state = hosts.status()
        if args.json:
            print(json.dumps(state, indent=2))
            return 0
        if not state:
            print("lab hosts: none")
        for prefix, rec in state.items():
            print(f"{prefix}: subnet {rec['subnet']} (controller {rec['controller_address']}), inventory {rec['inventory']}")
            for name, host in rec["hosts"].items():
                print(f"  {name:<20} {host['address']:<16} {'running' if host['running'] else 'STOPPED'}")
        return 0 if all(h["running"] for r in state.values() for h in r["hosts"].values()) else 3
    return 0


def _mirror(args) -> int:
    if args.mirror_command == "up":
        mirror.up(args.manifest)
    elif args.mirror_command == "down":
        mirror.down()
    else:
        state = mirror.status()
        if args.json:
            print(json.dumps(state, indent=2))
        elif not state.get("processes"):
            print("lab mirror: not running")
        else:
            print(f"lab mirror {state['address']} on {state['bridge']}  {'ready' if state['running'] else 'NOT READY'}")
            for kind, proc in state["processes"].items():
                url = state[kind]
                print(f"  {kind:<9} {url:<28} pid {proc['pid']!s:<8} {'answering' if state['answers'][kind] else 'not answering'}")
            print(f"  site variables {state['site_vars']}")
        return 0 if state["running"] else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
