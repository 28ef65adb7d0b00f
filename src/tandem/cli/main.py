"""`tandem`: the command-line entry point. The only place that turns errors into exit
codes and one-line messages."""

from __future__ import annotations

import argparse
import importlib
import sys

from tandem import __version__
from tandem.cli.common import UsageError

EXIT_ERROR = 1
EXIT_USAGE = 2

# The module that registers each command. `tandem status` imports only status_cmd (the
# lab, agents and pyroute2 cost ~0.3 s to import, which a monitoring probe need not pay);
# `tandem --help` and unknown commands load them all. Order: as `--help` lists them.
COMMAND_MODULES: dict[str, str] = {
    "status": "status_cmd", "events": "status_cmd", "fence": "status_cmd",
    "node": "status_cmd", "keygen": "status_cmd", "svc": "svc_cmd", "lab": "lab_cmd",
    "demo": "demo_cmd", "config": "config_cmd", "agent": "agent_cmd", "ha": "ha_cmd",
    "qdisk": "qdisk_cmd",
}


def operator_error(exc: Exception) -> bool:
    """Library errors whose message is meant for the operator as it stands (imported
    only now: the modules that raise them are loaded already when one is raised)."""
    from tandem.cli.client import ControlError
    from tandem.config.errors import ConfigError
    from tandem.lab.proc import LabError
    from tandem.wire.errors import WireError

    return isinstance(exc, (LabError, ConfigError, ControlError, WireError))


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
    func = getattr(args, "func", None)
    if func is None:
        # A group given without its sub-command: show that group's usage.
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return EXIT_USAGE
    try:
        status: int = func(args)
        return status
    except UsageError as exc:
        print(f"tandem: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tandem: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        if not operator_error(exc):
            raise
        print(f"tandem: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
