"""`tandem config check FILE`: validate a configuration offline."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tandem.cli import install_cmd
from tandem.cli.client import call, cell_status
from tandem.cli.common import Sub
from tandem.cli.render import print_json
from tandem.config import load_config


def register(sub: Sub) -> None:
    config = sub.add_parser("config", help="cluster configuration tools")
    config.set_defaults(group_parser=config)
    cmds = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = cmds.add_parser("check", help="validate a configuration file offline")
    check.add_argument("file")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)
    push = cmds.add_parser("push", help="install a newer configuration on every member "
                                        "(through the local daemon)")
    push.add_argument("file")
    push.add_argument("--timeout", type=float, default=30.0, metavar="S",
                      help="how long to wait for every member to run it")
    push.set_defaults(func=cmd_push)
    install_cmd.register(cmds)


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    summary = {
        "file": args.file, "cluster": config.name, "config_version": config.config_version,
        "nodes": [n.name for n in config.nodes],
        "rings": [n.name for n in config.rings],
        "two_node": config.two_node, "wait_for_all": config.wait_for_all,
        "expected_votes": config.total_votes,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"{args.file}: OK — cluster {config.name}, {len(config.nodes)} nodes, "
              f"rings {', '.join(n.name for n in config.rings)}, "
              f"version {config.config_version}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    config = load_config(args.file)  # refuse a bad file before anything is sent
    answer = call("config_push", {"text": Path(args.file).read_text()})
    version = answer["version"]
    print(f"version {version} installed here; sent to "
          f"{', '.join(answer['sent_to']) or 'no other member'}")
    deadline = time.monotonic() + args.timeout
    while True:
        behind = [n.name for n in cell_status().nodes
                  if n.state == "online" and (n.config_version or 0) < version]
        if not behind:
            print(f"every online member of {config.name} runs version {version}")
            return 0
        if time.monotonic() > deadline:
            print(f"tandem: still on an older version after {args.timeout:g} s: "
                  f"{', '.join(behind)} (see `tandem events` there)", file=sys.stderr)
            return 1
        time.sleep(0.2)
