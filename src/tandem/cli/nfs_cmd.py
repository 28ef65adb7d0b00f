"""The NFS I/O cell's HA_NFS service on the command line: `stordepha.nfs -c configure`
puts it into the cell's configuration before pushing it, and `tandem nfs service`
prints it.

Where it goes depends on where the cell comes from. From the inventory (the default),
configure replaces the cell's HA_NFS service in one transaction, which regenerates the
cell's configuration (a new config_version) and is undone whole if the loader refuses
it; the export ids take the inventory's fsids. From a directory of hand-written cell
files (`--from-dir`), nothing is rewritten: the cell file must already hold the service
as generated (`tandem nfs service ... --from-dir DIR` prints it), else configure says
so in one line and sends nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tandem.cli.common import Sub, UsageError
from tandem.config import ClusterConfig, parse_config
from tandem.config.model import ServiceDef
from tandem.fleet.operations import checked_config
from tandem.fleet.source import CellSource, CellTarget, Selection
from tandem.hpc.nfs.haionfs import DEFAULT_PATH, read_haionfs
from tandem.hpc.nfs.service import SERVICE, nfs_service, service_toml


def register(sub: Sub) -> None:
    nfs = sub.add_parser("nfs", help="NFS I/O cells: the HA_NFS service",
                         description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    nfs.set_defaults(group_parser=nfs)
    cmds = nfs.add_subparsers(title="commands", metavar="COMMAND")
    text = "print the HA_NFS [[services]] table for a cell's two nodes"
    service = cmds.add_parser("service", help=text, description=text)
    add_service_options(service)
    where = service.add_mutually_exclusive_group()
    where.add_argument("--cell", metavar="CELL.toml", help="the cell's configuration file")
    where.add_argument("--from-dir", metavar="DIR", help="a directory of cell files")
    where.add_argument("--db", metavar="URL", help="the inventory (the default, with "
                                                   "its export fsids)")
    service.set_defaults(func=cmd_service)


def add_service_options(parser: argparse.ArgumentParser, *, nodes: bool = True) -> None:
    """--haionfs, and -i / -I unless the command has them already."""
    parser.add_argument("--haionfs", metavar="FILE", default=str(DEFAULT_PATH),
                        help=f"the shared file systems (default: {DEFAULT_PATH})")
    if nodes:
        parser.add_argument("-i", dest="include", required=True, metavar="NODE1,NODE2",
                            help="the two NFS nodes of the cell, the preferred first")
        parser.add_argument("-I", dest="aliases", default="", metavar="ADDR/MASK,...",
                            help="the service addresses (the first is the server's)")


def cmd_service(args: argparse.Namespace) -> int:
    if args.cell:
        config = parse_config(_read(Path(args.cell)), args.cell)
        nodes = two_nodes(args.include)
        _check_members(config.name, [n.name for n in config.nodes], nodes)
        fsids: dict[str, int] = {}
    else:
        from tandem.cli.cells_cmd import open_source

        source = open_source(args)
        target, config, nodes = nfs_cell(source, args.include)
        fsids = {} if args.from_dir else inventory_fsids(args.db, target.name)
    service = nfs_service(config, nodes, read_haionfs(Path(args.haionfs)),
                          args.aliases.split(","), fsids)
    print(service_toml(config, service), end="")
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None


def two_nodes(include: str) -> list[str]:
    """-i NODE1,NODE2 as a list (the preferred node first)."""
    nodes = [n for n in include.split(",") if n]
    if len(nodes) != 2 or nodes[0] == nodes[1]:
        raise UsageError(f"-i takes the two nodes of one NFS cell, got {include!r}")
    return nodes


def nfs_cell(source: CellSource, include: str) -> tuple[CellTarget, ClusterConfig, list[str]]:
    """The cell whose two members -i names, its checked configuration, and the nodes
    in -i order."""
    nodes = two_nodes(include)
    targets = source.targets(Selection(include=",".join(nodes)))
    if len(targets) != 1:
        cells = ", ".join(f"{t.name} ({', '.join(n.name for n in t.nodes)})"
                          for t in targets)
        raise UsageError(f"-i {include}: not the members of one cell ({cells})")
    _check_members(targets[0].name, [n.name for n in targets[0].nodes], nodes)
    return targets[0], checked_config(targets[0]), nodes


def _check_members(cell: str, members: list[str], nodes: list[str]) -> None:
    if sorted(members) != sorted(nodes):
        raise UsageError(f"-i {','.join(nodes)}: not the members of one cell "
                         f"({cell} ({', '.join(members)}))")


def inventory_fsids(url: str | None, cell: str) -> dict[str, int]:
    """{export path: fsid} of `cell` in the inventory (those that have one)."""
    from tandem.inventory.database import Database
    from tandem.inventory.edit import find_cell

    with Database(url).transaction() as session:
        return {e.path: e.fsid for e in find_cell(session, cell).exports
                if e.fsid is not None}


def configure(args: argparse.Namespace, target: CellTarget, config: ClusterConfig,
              nodes: list[str]) -> None:
    """Put HA_NFS, made from --haionfs and -I, into the cell's configuration at its
    source (see the module's docstring); nothing changes if anything is wrong."""
    filesystems = read_haionfs(Path(args.haionfs))
    aliases = args.aliases.split(",")
    if args.from_dir:
        _check_cell_file(config, nfs_service(config, nodes, filesystems, aliases), args)
        return
    from tandem.inventory.database import Database
    from tandem.inventory.docimport import service_rows
    from tandem.inventory.edit import find_cell
    from tandem.inventory.writes import change

    with change(Database(args.db)) as changes:
        cell = find_cell(changes.session, target.name)
        fsids = {e.path: e.fsid for e in cell.exports if e.fsid is not None}
        service = nfs_service(config, nodes, filesystems, aliases, fsids)
        cell.services = [s for s in cell.services if s.name != SERVICE]
        changes.session.flush()  # the old rows go before the new ones take their name
        cell.services.extend(service_rows((service,)))


def _check_cell_file(config: ClusterConfig, service: ServiceDef,
                     args: argparse.Namespace) -> None:
    """A hand-written cell file is not rewritten: it must hold `service` already."""
    current = next((s for s in config.services if s.name == SERVICE), None)
    if current is None or service_toml(config, current) != service_toml(config, service):
        state = "has no" if current is None else "has another"
        raise UsageError(
            f"cell {config.name}: its file in {args.from_dir} {state} {SERVICE} service than "
            f"{args.haionfs} and -I give: put the output of `tandem nfs service --haionfs "
            f"{args.haionfs} -i {args.include} -I {args.aliases} --from-dir {args.from_dir}` "
            f"in it, raise its config_version and configure again")
