"""`tandem check cell | pairs`: Nagios/Icinga plugins.

`check cell` is the manual's "HA System Status" of the cell this node belongs to, from
the local tandemd's control socket. `check pairs` is the "I/O pairs status", run on the
management node over the selected cells (as `tandem cells status` reads them).

As every plugin: one line on stdout, `TANDEM SERVICE STATE - text | perfdata`, and exit
0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. A pair whose service runs on its other node is
MIGRATED in the text and exits 1 (Nagios knows no MIGRATED). A daemon or cells that
cannot be reached, or a bad command line, are UNKNOWN (exit 3), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from tandem.cli.common import Sub
from tandem.cli.render import print_json
from tandem.common.errors import TandemError
from tandem.monitor.check import UNKNOWN, CheckResult, cell_result, unknown

NODE_CONFIG = "/etc/tandem/cluster.toml"  # where tandemd reads its configuration

CELL_HELP = ("the cell's HA System Status from the local tandemd: CRITICAL when not "
             "quorate, a service is failed, blocked or stopped though enabled, or a manual "
             "fence waits; WARNING when a member is not online, a ring is down, a service "
             "is moving, frozen or off its home node, or a fence device fails; UNKNOWN "
             "when tandemd does not answer")
PAIRS_HELP = ("the I/O pairs status over the selected cells, from the management node: "
              "CRITICAL when a service runs nowhere; MIGRATED (exit 1, as WARNING) when a "
              "service runs on another node than its home; WARNING when a member is down "
              "or a service is moving; UNKNOWN when no member of a cell answers. "
              "Select the pairs with -i @lustre, @nfs, ... or all cells with -a")


class PluginParser(argparse.ArgumentParser):
    """A parser whose errors are a plugin's: usage on stderr, one UNKNOWN line on
    stdout, exit 3, also for arguments left over (which argparse would otherwise hand
    to the top-level parser, exiting 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        service = self.prog.split()[-1].upper()  # "tandem check cell" -> CELL
        print(unknown(service, f"bad arguments: {message}").line())
        sys.exit(UNKNOWN)

    def parse_known_args(  # type: ignore[override]
            self, args: Sequence[str] | None = None,
            namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def register(sub: Sub) -> None:
    check = _plugin_parser(sub, "check", help="Nagios/Icinga checks: cell, pairs",
                           description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    check.set_defaults(func=lambda _: _no_check(check))
    checks = check.add_subparsers(title="checks", metavar="CHECK", parser_class=PluginParser)

    cell = checks.add_parser("cell", help="the cell's HA System Status (local tandemd)",
                             description=CELL_HELP)
    cell.add_argument("--config", default=NODE_CONFIG, metavar="FILE",
                      help="this node's configuration, for each service's home node "
                           f"(default {NODE_CONFIG}; unreadable: homes are not judged)")
    cell.add_argument("--timeout", type=float, default=8.0, metavar="S",
                      help="how long tandemd may take to answer (default 8)")
    cell.add_argument("--json", action="store_true", help="the result as JSON, not a line")
    cell.set_defaults(func=cmd_cell)

    from tandem.cli.cells_cmd import add_options, add_selection

    pairs = checks.add_parser("pairs", help="the I/O pairs status over the selected cells "
                                            "(management node)", description=PAIRS_HELP)
    add_selection(pairs)
    add_options(pairs)
    pairs.set_defaults(func=cmd_pairs, operation="status")


def _plugin_parser(sub: Sub, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """`sub.add_parser`, but a PluginParser (argparse takes the class per group only)."""
    saved = sub._parser_class
    sub._parser_class = PluginParser
    try:
        return sub.add_parser(name, **kwargs)
    finally:
        sub._parser_class = saved


def _no_check(parser: argparse.ArgumentParser) -> int:
    parser.error("name a check: cell or pairs")


def cmd_cell(args: argparse.Namespace) -> int:
    from tandem.cli.client import cell_status

    try:
        status = cell_status(timeout=args.timeout)
    except TandemError as exc:
        return emit(unknown("CELL", str(exc)), as_json=args.json)
    return emit(cell_result(status, homes(args.config)), as_json=args.json)


def homes(path: str) -> dict[str, str | None]:
    """Each service's home node in the configuration at `path`; none when it does not
    load (the check then judges the rest)."""
    from tandem.config import load_config
    from tandem.fleet.verdicts import home_node

    try:
        config = load_config(path)
    except TandemError:
        return {}
    return {s.name: home_node(config, s.name) for s in config.services}


def cmd_pairs(args: argparse.Namespace) -> int:
    from tandem.cli.cells_cmd import run_operation
    from tandem.monitor.pairs import pairs_result

    try:
        outcome = run_operation(args)
    except TandemError as exc:
        return emit(unknown("PAIRS", str(exc)), as_json=args.json)
    return emit(pairs_result(outcome), as_json=args.json)


def emit(result: CheckResult, *, as_json: bool) -> int:
    """Print `result` as a plugin (or as JSON); its exit code."""
    if as_json:
        print_json(result.to_json())
    else:
        print(result.line())
    return result.code
