"""The manual's commands for I/O cells, as their own commands over tandem's:

- `stordepha -c configure|start|stop|status (-a | -i LIST) [-e LIST] [-q]`: from the
  management node, on many cells (`tandem cells ...`). `configure` sends each node its
  cell's configuration and key (a reinstalled node is restored this way); `-q` says
  the cells have a quorum disk (a cell that has one needs -q, one without refuses it).
- `stordepha.nfs -c ... -i NODE1,NODE2 [-I ADDR/MASK,...] [-hb NETWORK] [-q]`: the same
  for the two nodes of one NFS cell (see its --help for what -I and -hb do today).
- `storioha -c start|stop|status`: on an I/O node, for itself (`cs` and `tandem status`).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from tandem.cli import cells_cmd
from tandem.cli.common import UsageError
from tandem.cli.guard import guarded
from tandem.fleet.operations import Fleet
from tandem.fleet.source import Selection
from tandem.fleet.transport import ClusterShellTransport

COMMANDS = ("configure", "start", "stop", "status")
NFS_HELP = """\
Today this checks its options against the cell the two nodes form (they must be the
two members of one cell; -hb must name a heartbeat network of that cell; each -I
address must be ADDR/PREFIX inside one of the cell's networks) and then does what
stordepha does for those two nodes. The NFS service itself (the -I aliases as
virtual addresses, the exports) is not generated yet: it comes with the NFS domain."""


def _parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", dest="operation", required=True, choices=COMMANDS)
    parser.add_argument("-q", dest="qdisk", action="store_true",
                        help="the cells have a quorum disk")
    return parser


def stordepha_main(argv: list[str] | None = None) -> int:
    parser = _parser("stordepha", "Configure, start, stop or check the HA of I/O cells "
                                  "from the management node.")
    cells_cmd.add_selection(parser)
    cells_cmd.add_options(parser)
    args = parser.parse_args(argv)
    return guarded("stordepha", lambda: _run(args, "stordepha"))


def stordepha_nfs_main(argv: list[str] | None = None) -> int:
    parser = _parser("stordepha.nfs", "Configure, start, stop or check the HA of an NFS "
                                      "I/O cell from the management node.", NFS_HELP)
    parser.add_argument("-i", dest="include", required=True, metavar="NODE1,NODE2",
                        help="the two NFS nodes of the cell")
    parser.add_argument("-I", dest="aliases", default="", metavar="ADDR/MASK,...",
                        help="the alias addresses the NFS service will move (checked only)")
    parser.add_argument("-hb", dest="heartbeat", metavar="NETWORK",
                        help="the network heartbeats go on (checked against the cell)")
    cells_cmd.add_options(parser)
    args = parser.parse_args(argv)
    args.all, args.exclude = False, ""
    return guarded("stordepha.nfs", lambda: _run(args, "stordepha.nfs", nfs=True))


def _run(args: argparse.Namespace, prog: str, *, nfs: bool = False) -> int:
    if nfs:
        check_nfs(args)
    operation = args.operation
    if operation == "configure":
        args.operation, args.with_key = "push", True
    outcome = cells_cmd.run_operation(args, qdisk=args.qdisk if operation == "configure"
                                      else None)
    return cells_cmd.report(outcome, as_json=args.json, prog=prog)


def check_nfs(args: argparse.Namespace) -> None:
    """The two nodes form one cell; -hb and -I fit it (UsageError naming what does not)."""
    nodes = [n for n in args.include.split(",") if n]
    if len(nodes) != 2:
        raise UsageError(f"-i takes the two nodes of one NFS cell, got {args.include!r}")
    settings = cells_cmd.settings_of(args)
    fleet = Fleet(cells_cmd.open_source(args), ClusterShellTransport(settings), settings)
    plans = fleet.plans(Selection(include=",".join(nodes)), strict=True)
    if len(plans) != 1 or len(plans[0].members) != len(plans[0].target.nodes):
        cells = ", ".join(f"{p.target.name} ({', '.join(n.name for n in p.target.nodes)})"
                          for p in plans)
        raise UsageError(f"-i {args.include}: not the members of one cell ({cells})")
    config = plans[0].config
    assert config is not None
    if args.heartbeat and args.heartbeat not in {n.name for n in config.rings}:
        raise UsageError(f"-hb {args.heartbeat}: not a heartbeat network of cell "
                         f"{config.name} ({', '.join(n.name for n in config.rings)})")
    subnets = {itf.address.network for n in config.nodes for itf in n.interfaces}
    for alias in filter(None, args.aliases.split(",")):
        try:
            address = ipaddress.ip_interface(alias)
        except ValueError:
            raise UsageError(f"-I {alias}: expected ADDR/PREFIX such as "
                             f"198.51.100.76/24") from None
        if "/" not in alias or address.network not in subnets:
            raise UsageError(f"-I {alias}: not inside a network of cell {config.name} "
                             f"(with the same prefix as the interface's)")


def storioha_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storioha", description="Start, stop or show "
                                     "the HA of this I/O node (locally).")
    parser.add_argument("-c", dest="operation", required=True,
                        choices=("start", "stop", "status"))
    parser.add_argument("-w", dest="timeout", type=float, default=60.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    return guarded("storioha", lambda: _local(args.operation, args.timeout))


def _local(operation: str, timeout: float) -> int:
    from tandem.cli import cs_cmd

    if operation == "start":
        return cs_cmd.cs_start(timeout)
    if operation == "stop":
        return cs_cmd.cs_stop(timeout)
    running = cs_cmd.cs_status(timeout)
    if running != 0:
        return running
    from tandem.cli.client import cell_status
    from tandem.cli.status_cmd import render_status

    sys.stdout.flush()
    render_status(cell_status())
    return 0
