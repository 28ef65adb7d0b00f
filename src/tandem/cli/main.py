"""`tandem`: the command-line entry point. Errors become exit codes and one-line
messages in `tandem.cli.guard`, as for every other command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from tandem import __version__
from tandem.cli.guard import guarded
from tandem.common.errors import EXIT_USAGE

# The module that registers each command. `tandem status` imports only status_cmd (the
# lab, agents and pyroute2 cost ~0.3 s to import, which a monitoring probe need not pay);
# `tandem --help` and unknown commands load them all. Order: as `--help` lists them.
COMMAND_MODULES: dict[str, str] = {
    "status": "status_cmd", "events": "status_cmd", "fence": "status_cmd",
    "node": "status_cmd", "keygen": "status_cmd", "svc": "svc_cmd", "lab": "lab_cmd",
    "demo": "demo_cmd", "config": "config_cmd", "agent": "agent_cmd", "ha": "ha_cmd",
    "qdisk": "qdisk_cmd", "db": "db_cmd", "cells": "cells_cmd", "batch": "batch_cmd",
    "install": "sysinstall_cmd", "exporter": "exporter_cmd",
    "check": "check_cmd",
    "page": "page_cmd",
    "nfs": "nfs_cmd",
    "storage-error": "storage_cmd",
    "lustre": "lustre_cmd",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that command's module is loaded."""
    parser = argparse.ArgumentParser(
        prog="tandem",
        description="High availability for HPC clusters: cells, fencing, services, lab.")
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    wanted = COMMAND_MODULES.get(command or "")
    modules = [wanted] if wanted else list(dict.fromkeys(COMMAND_MODULES.values()))
    for module in modules:
        importlib.import_module(f"tandem.cli.{module}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        # A group given without its sub-command: show that group's usage.
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return EXIT_USAGE
    command = func
    return guarded("tandem", lambda: command(args))


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
