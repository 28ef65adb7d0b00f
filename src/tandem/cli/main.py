"""`tandem`: the command-line entry point. The only place that turns errors into exit
codes and one-line messages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tandem import __version__
from tandem.cli import (
    agent_cmd,
    config_cmd,
    demo_cmd,
    ha_cmd,
    lab_cmd,
    qdisk_cmd,
    status_cmd,
    svc_cmd,
)
from tandem.cli.client import ControlError
from tandem.cli.common import Sub, UsageError
from tandem.config import ConfigError
from tandem.lab.proc import LabError
from tandem.wire import WireError

EXIT_ERROR = 1
EXIT_USAGE = 2

# Each module contributes its sub-commands; a command returns an exit status.
REGISTRARS: list[Callable[[Sub], None]] = [
    status_cmd.register,
    svc_cmd.register,
    lab_cmd.register,
    demo_cmd.register,
    config_cmd.register,
    agent_cmd.register,
    ha_cmd.register,
    qdisk_cmd.register,
]

# Library errors whose message is meant for the operator as it stands.
OPERATOR_ERRORS: tuple[type[Exception], ...] = (LabError, ConfigError, ControlError,
                                                 WireError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tandem",
        description="High availability for HPC clusters: cells, fencing, services, lab.")
    parser.add_argument("--version", action="version", version=f"tandem {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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
    except OPERATOR_ERRORS as exc:
        print(f"tandem: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tandem: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR


def run() -> None:
    """Console-script wrapper."""
    sys.exit(main())
