"""The manual's commands for I/O cells, as their own commands over tandem's:

- `stordepha -c configure|start|stop|status (-a | -i LIST) [-e LIST] [-q]`: from the
  management node, on many cells (`tandem cells ...`). `configure` sends each node its
  cell's configuration and key (a reinstalled node is restored this way); `-q` says
  the cells have a quorum disk (a cell that has one needs -q, one without refuses it).
- `stordepha.nfs -c ... -i NODE1,NODE2 [-I ADDR/MASK,...] [-hb NETWORK] [-q]
  [--haionfs FILE]`: the same for the two nodes of one NFS cell; configure first puts
  the HA_NFS service made from haionfs.conf and -I into the cell (tandem.cli.nfs_cmd).
- `storioha -c start|stop|status`: on an I/O node, for itself (`cs` and `tandem status`).
"""

from __future__ import annotations

import argparse
import sys

from tandem.cli import cells_cmd, nfs_cmd
from tandem.cli.common import UsageError
from tandem.cli.guard import guarded
from tandem.config import ClusterConfig
from tandem.fleet.source import CellTarget
from tandem.hpc.nfs.service import place_aliases

COMMANDS = ("configure", "start", "stop", "status")
NFS_HELP = """\
The two nodes must be the two members of one cell; -hb must name a heartbeat network
of that cell; each -I address must be ADDR/MASK inside a network of both nodes, with
the mask of their interface there. configure reads --haionfs and puts the HA_NFS
service (file systems, ports blocked, the -I addresses, the NFS server, ports
unblocked) into the cell's configuration: in the inventory (a new version), or, with
--from-dir, it checks that the cell file holds it already (`tandem nfs service`
prints it); then it does what stordepha does for those two nodes."""


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
    nfs_cmd.add_service_options(parser)
    parser.add_argument("-hb", dest="heartbeat", metavar="NETWORK",
                        help="the network heartbeats go on (checked against the cell)")
    cells_cmd.add_options(parser)
    args = parser.parse_args(argv)
    args.all, args.exclude = False, ""
    return guarded("stordepha.nfs", lambda: _run(args, "stordepha.nfs", nfs=True))


def _run(args: argparse.Namespace, prog: str, *, nfs: bool = False) -> int:
    operation = args.operation
    if nfs:
        target, config, nodes = check_nfs(args)
        if operation == "configure":
            nfs_cmd.configure(args, target, config, nodes)
    if operation == "configure":
        args.operation, args.with_key = "push", True
    outcome = cells_cmd.run_operation(args, qdisk=args.qdisk if operation == "configure"
                                      else None)
    return cells_cmd.report(outcome, as_json=args.json, prog=prog)


def check_nfs(args: argparse.Namespace) -> tuple[CellTarget, ClusterConfig, list[str]]:
    """The cell the two nodes form, its configuration and the nodes; -hb and -I must
    fit it (a one-line error naming what does not)."""
    target, config, nodes = nfs_cmd.nfs_cell(cells_cmd.open_source(args), args.include)
    if args.heartbeat and args.heartbeat not in {n.name for n in config.rings}:
        raise UsageError(f"-hb {args.heartbeat}: not a heartbeat network of cell "
                         f"{config.name} ({', '.join(n.name for n in config.rings)})")
    place_aliases([n for n in config.nodes if n.name in nodes], args.aliases.split(","))
    return target, config, nodes


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
