"""`lustre_migrate`: the Lustre failover services (`lustre_<node>`) of every Lustre I/O
cell, from the management node, as the manual's tool manages them.

  lustre_migrate nodestat -n NODESET|all     each I/O pair: OK, MIGRATED, WARNING, CRITICAL
  lustre_migrate hastat -n NODESET|all       each node's service: state, where it runs
  lustre_migrate hastart [--force] -n ...    start each node's service on the node
  lustre_migrate hastop -n ...               stop (disable) each node's service
  lustre_migrate export -n NODE              move the node's service to its peer
  lustre_migrate relocate -n NODE            bring the node's service back home

`-n all` is every node with a lustre_<node> service; a node set (io[1-4]) names
nodes, each of which must have one. How each status and each command's refusal is
decided: tandem.hpc.lustre.migrate. Exit status: 0 when every node shown is OK (or
every request was done or had nothing to do), 1 when not, 2 for bad input (nothing
sent).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tandem.cli import cells_cmd
from tandem.cli.cells_view import ProgressBar
from tandem.cli.common import UsageError
from tandem.cli.guard import guarded
from tandem.cli.render import print_json, progress_line
from tandem.common.errors import EXIT_FAILED, EXIT_OK
from tandem.fleet.nodesets import fold
from tandem.fleet.settings import FleetSettings
from tandem.fleet.transport import ClusterShellTransport, Transport
from tandem.hpc.lustre.migrate import COMMANDS, OK, NodeStatus, pairs
from tandem.hpc.lustre.migrate_run import WAIT_S, Migrate, Outcome, Survey

PROG = "lustre_migrate"
HELP = {
    "nodestat": "each I/O pair's status: OK, MIGRATED, WARNING or CRITICAL",
    "hastat": "each node's lustre_<node> service: its state and where it runs",
    "hastart": "start each node's lustre_<node> on the node (all or nothing "
               "without --force)",
    "hastop": "stop (disable) each node's lustre_<node> wherever it runs",
    "export": "move each node's lustre_<node> to its peer (before maintenance)",
    "relocate": "bring each node's lustre_<node> back to it (the manual failback)",
}


def make_transport(settings: FleetSettings) -> Transport:
    """The fan-out (a test puts a pretend site here)."""
    return ClusterShellTransport(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command",
                                 required=True)
    for name in ("nodestat", "hastat", *COMMANDS):
        op = cmds.add_parser(name, help=HELP[name], description=HELP[name])
        op.add_argument("-n", dest="nodes", required=True, metavar="NODESET|all",
                        help="the nodes (io[1-4]; all: every node with a lustre_ service)")
        if name == "hastart":
            op.add_argument("--force", action="store_true",
                            help="start the service of a node that is not up on its peer, "
                                 "and on its peer after a failed start on the node")
        if name in COMMANDS:
            op.add_argument("--wait", type=float, default=WAIT_S, metavar="S",
                            help="how long each request may take (default: %(default)g s)")
        cells_cmd.add_options(op)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded(PROG, lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """The command, as the command line asked."""
    if getattr(args, "wait", 1.0) <= 0:
        raise UsageError(f"--wait must be more than 0, got {args.wait:g}")
    settings = cells_cmd.settings_of(args)
    with ProgressBar(args.command) as bar:
        tool = Migrate(cells_cmd.open_source(args), make_transport(settings), settings,
                       status_timeout=args.timeout, wait=getattr(args, "wait", WAIT_S),
                       say=lambda line: progress_line(f"{PROG}: {line}"), progress=bar)
        if args.command in ("nodestat", "hastat"):
            survey = tool.survey(args.nodes)
            outcomes: list[Outcome] = []
        else:
            outcomes, survey = tool.act(args.command, args.nodes,
                                        force=getattr(args, "force", False))
    if survey.record_error:
        print(f"{PROG}: warning: {survey.record_error}", file=sys.stderr)
    if args.command == "nodestat":
        return show_nodestat(survey, as_json=args.json)
    if args.command == "hastat":
        return show_hastat(survey, as_json=args.json)
    return show_outcomes(args.command, outcomes, as_json=args.json)


# -- nodestat -----------------------------------------------------------------------------
def show_nodestat(survey: Survey, *, as_json: bool) -> int:
    rows = pairs(survey.statuses(), survey.peer_statuses())
    shown = [s for row in rows for s in row if s is not None]
    ok = all(s.status == OK for s in shown)
    if as_json:
        print_json({"command": "nodestat", "ok": ok, "record_error": survey.record_error,
                    "pairs": [{"node": a.to_json(), "peer": b.to_json() if b else None}
                              for a, b in rows]})
        return EXIT_OK if ok else EXIT_FAILED
    print("HA paired nodes status")
    print("----------------------")
    print(columns(["node name", "node status", "HA node name", "HA node status"],
                  [[a.node, a.status, b.node if b else (a.peer or "-"),
                    b.status if b else "-"] for a, b in rows]))
    notes = [s for s in shown if s.status != OK]
    if notes:
        print()
        for status in notes:
            print(f"{status.node}: {status.status}: {status.service} {status.detail}")
    return EXIT_OK if ok else EXIT_FAILED


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain left-aligned columns, as the manual prints them (no terminal needed)."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["   ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True))
             for row in [headers, *rows]]
    return "\n".join(line.rstrip() for line in lines)


# -- hastat -------------------------------------------------------------------------------
def hastat_rows(survey: Survey) -> list[dict[str, Any]]:
    """Each selected node: its service's state and owner, how its cell sees the node
    and the lustre services it holds."""
    rows = []
    for status in survey.statuses():
        view = survey.views.get(status.cell)
        rows.append(status.to_json() | {
            "node_state": view.node_state(status.node) if view else "unknown",
            "holds": view.lustre_on(status.node) if view else []})
    return rows


def show_hastat(survey: Survey, *, as_json: bool) -> int:
    rows = hastat_rows(survey)
    ok = all(r["status"] == OK for r in rows)
    if as_json:
        print_json({"command": "hastat", "ok": ok, "record_error": survey.record_error,
                    "nodes": rows})
        return EXIT_OK if ok else EXIT_FAILED
    print("Lustre failover services")
    print("------------------------")
    print(columns(["node", "node state", "service", "state", "runs on", "peer", "holds",
                   "status"],
                  [[r["node"], r["node_state"], r["service"], r["state"], r["owner"] or "-",
                    r["peer"] or "-", ",".join(r["holds"]) or "-", r["status"]]
                   for r in rows]))
    return EXIT_OK if ok else EXIT_FAILED


# -- hastart, hastop, export, relocate ----------------------------------------------------
def show_outcomes(command: str, outcomes: Sequence[Outcome], *, as_json: bool) -> int:
    ok = all(o.ok for o in outcomes)
    if as_json:
        print_json({"command": command, "ok": ok,
                    "nodes": [o.to_json() for o in outcomes]})
    else:
        print(columns(["node", "service", "result", "detail", "now"],
                      [[o.step.node, o.step.service, o.result, o.detail,
                        _now(o.now)] for o in outcomes]))
    if ok:
        return EXIT_OK
    bad = [o for o in outcomes if not o.ok]
    named = "; ".join(f"{fold(o.step.node for o in bad if o.result == word)} {word}"
                      for word in dict.fromkeys(o.result for o in bad))
    print(f"{PROG}: {command}: {len(bad)} of {len(outcomes)} nodes not done: {named}",
          file=sys.stderr)
    return EXIT_FAILED


def _now(status: NodeStatus | None) -> str:
    if status is None:
        return "-"
    where = f" on {status.owner}" if status.owner else ""
    return f"{status.status} ({status.state}{where})"
