"""`lab` command line: the lab API and (later) the lab hosts."""

import argparse
import json
import sys

from . import api
from .paths import LabError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lab", description="The kMetal lab: a real kube-apiserver with the upstream CRDs on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the lab API (or reuse the healthy one) and install the upstream CRDs")
    sub.add_parser("down", help="stop the processes the lab started and remove its data")
    st = sub.add_parser("status", help="show the lab's processes and readiness")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            info = api.up()
            print(f"export KUBECONFIG={info.kubeconfig}")
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


if __name__ == "__main__":
    sys.exit(main())
