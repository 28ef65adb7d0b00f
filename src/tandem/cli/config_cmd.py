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
from tandem.config.cellfile import exposures, write_cell_file


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
    _register_import_rhcs(cmds)
    install_cmd.register(cmds)


def _register_import_rhcs(cmds: Sub) -> None:
    imp = cmds.add_parser(
        "import-rhcs", help="write a cell configuration from a Red Hat Cluster Suite "
                            "cluster.conf, with a note per thing not carried over")
    imp.add_argument("file", help="the cluster.conf to read")
    imp.add_argument("-o", "--output", metavar="OUT",
                     help="write the TOML here (default: standard output)")
    imp.add_argument("--force", action="store_true", help="replace OUT if it exists")
    imp.add_argument("--address", action="append", default=[],
                     metavar="NODE=NET:IF:ADDR/PREFIX",
                     help="a node's interface and address on a heartbeat network "
                          "(repeat for each node and network; the first network is ring 0)")
    imp.add_argument("--resolve", metavar="NET:IF/PREFIX",
                     help="resolve node (and BMC) host names with the system resolver, "
                          "for the nodes without --address on NET")
    imp.add_argument("--key-file", default="/etc/tandem/cluster.key",
                     help="the cluster key's path in the written file")
    imp.add_argument("--secrets-dir", default="/etc/tandem/fence",
                     help="where the written file expects the fence passwords")
    imp.add_argument("--json", action="store_true",
                     help="print the notes (and the TOML without -o) as JSON")
    imp.set_defaults(func=cmd_import_rhcs)


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.file)
    warnings = exposures(Path(args.file), config)
    summary = {
        "file": args.file, "cluster": config.name, "config_version": config.config_version,
        "nodes": [n.name for n in config.nodes],
        "rings": [n.name for n in config.rings],
        "two_node": config.two_node, "wait_for_all": config.wait_for_all,
        "expected_votes": config.total_votes, "warnings": warnings,
    }
    for warning in warnings:
        print(f"tandem: warning: {warning}", file=sys.stderr)
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


def cmd_import_rhcs(args: argparse.Namespace) -> int:
    from tandem.config.errors import ConfigError
    from tandem.config.importers.addresses import parse_address, parse_resolve
    from tandem.config.importers.rhcs import import_rhcs
    from tandem.config.importers.rhcs_context import ImportOptions

    options = ImportOptions(
        addresses=tuple(parse_address(text) for text in args.address),
        resolve=parse_resolve(args.resolve) if args.resolve else None,
        key_file=args.key_file, secrets_dir=args.secrets_dir)
    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        raise ConfigError(str(output), "", "exists: give --force to replace it")
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(args.file, "", f"cannot read: {getattr(exc, 'strerror', None) or exc}"
                          ) from None
    result = import_rhcs(text, args.file, options)
    if output is not None:
        write_cell_file(output, result.text)
    if args.json:
        print_json({"source": args.file, "output": args.output, "cluster": result.config.name,
                    "complete": result.complete, "fill_ins": result.fill_ins,
                    "notes": [n.as_dict() for n in result.notes],
                    "toml": None if output is not None else result.text})
        return 0
    for note in result.notes:
        print(f"{args.file}:{note.line}: {note}", file=sys.stderr)
    if output is None:
        sys.stdout.write(result.text)
    else:
        print(f"wrote {output}: cell {result.config.name}, {len(result.config.nodes)} nodes, "
              f"{len(result.config.services)} services, {len(result.notes)} notes")
    if result.fill_ins:
        print(f"tandem: fill in before use: {', '.join(result.fill_ins)}", file=sys.stderr)
    return 0


