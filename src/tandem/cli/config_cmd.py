"""`tandem config check FILE`: validate a configuration offline."""

from __future__ import annotations

import argparse

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
