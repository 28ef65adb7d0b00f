"""`tandem db set node|cell|fence|service|resource|filesystem|target|export`: one
sub-command per kind of thing, each creating it or changing only the options given.

Passwords are refused (`--bmc-password`, `--password` exist to say so): the inventory
names the file a secret is in, never the secret.
"""

from __future__ import annotations

import argparse
from typing import Any

from tandem.cli.common import UsageError
from tandem.cli.db_cmd import key_values, write
from tandem.config.model import RECOVERIES
from tandem.inventory.edit import NO_SECRETS


def register(kinds: Any, common: argparse.ArgumentParser) -> None:
    for name, add, run in ((("node", _node_args, _set_node)), ("cell", _cell_args, _set_cell),
                           ("fence", _fence_args, _set_fence),
                           ("service", _service_args, _set_service),
                           ("resource", _resource_args, _set_resource),
                           ("filesystem", _filesystem_args, _set_filesystem),
                           ("target", _target_args, _set_target),
                           ("export", _export_args, _set_export)):
        parser = kinds.add_parser(name, parents=[common], help=add.__doc__,
                                  description=add.__doc__)
        add(parser)
        parser.set_defaults(func=run)


def _refuse_secret(value: str | None, option: str) -> None:
    if value is not None:
        raise UsageError(f"{option}: {NO_SECRETS} ({option}-file PATH)")


def _bool(parser: argparse.ArgumentParser, name: str, help_on: str) -> None:
    parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None,
                        help=help_on)


def _csv(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(w for w in text.split(",") if w)


# -- node -----------------------------------------------------------------------------------------
def _node_args(parser: argparse.ArgumentParser) -> None:
    """add or change nodes (a node set for roles and BMC user/port/password file)"""
    parser.add_argument("nodes", metavar="NODESET")
    parser.add_argument("--roles", metavar="ROLE,...", help="replace the roles ('' for none)")
    parser.add_argument("--address", action="append", default=[], metavar="NET=IF:ADDR/PREFIX",
                        help="the node's interface and address on a network (repeatable)")
    parser.add_argument("--drop-address", action="append", default=[], metavar="NET")
    parser.add_argument("--bmc", metavar="ADDR", help="the BMC's address")
    parser.add_argument("--bmc-user", metavar="USER")
    parser.add_argument("--bmc-port", type=int, metavar="PORT")
    parser.add_argument("--bmc-password-file", metavar="PATH",
                        help="the file holding the BMC password (only its path is kept)")
    parser.add_argument("--bmc-password", help=argparse.SUPPRESS)
    parser.add_argument("--no-bmc", action="store_true", help="forget the BMC")


def _set_node(args: argparse.Namespace) -> int:
    from ClusterShell.NodeSet import NodeSet, NodeSetException

    from tandem.inventory.edit import NodeChange, set_nodes

    _refuse_secret(args.bmc_password, "--bmc-password")
    addresses = []
    for word in args.address:
        net, _, rest = word.partition("=")
        interface, _, address = rest.partition(":")
        if not (net and interface and address):
            raise UsageError(f"--address: expected NET=IF:ADDR/PREFIX, got {word!r}")
        addresses.append((net, interface, address))
    try:
        names = list(NodeSet(args.nodes))
    except NodeSetException as exc:
        raise UsageError(f"node set {args.nodes!r}: {exc}") from None
    change = NodeChange(roles=_csv(args.roles), addresses=tuple(addresses),
                        drop_networks=tuple(args.drop_address), bmc_address=args.bmc,
                        bmc_user=args.bmc_user, bmc_port=args.bmc_port,
                        bmc_password_file=args.bmc_password_file, drop_bmc=args.no_bmc)

    def body(session: Any) -> str:
        created = set(set_nodes(session, names, change))
        return ", ".join(f"{n} {'added' if n in created else 'changed'}" for n in names)

    return write(args, "node", body)


# -- cell -----------------------------------------------------------------------------------------
def _cell_args(parser: argparse.ArgumentParser) -> None:
    """add or change a cell (its members, heartbeat networks, quorum disk, settings)"""
    parser.add_argument("name", metavar="CELL")
    parser.add_argument("--kind", choices=("management", "nfs", "lustre", "generic"))
    parser.add_argument("--members", metavar="NODESET", help="replace the members (at "
                        "least 2; a node is in one cell only)")
    parser.add_argument("--heartbeat", metavar="NET,...",
                        help="heartbeat networks, ring 0 first (default: those all share)")
    parser.add_argument("--qdisk", metavar="LUN", help="quorum-disk device ('' removes it)")
    parser.add_argument("--key-file", metavar="PATH")
    parser.add_argument("--heartbeat-ms", type=int, metavar="MS")
    parser.add_argument("--token-ms", type=int, metavar="MS")
    parser.add_argument("--fence-delay-ms", type=int, metavar="MS",
                        help="how long fencing the primary (lowest id) waits (default 3000)")
    _bool(parser, "wait-for-all", "a booting node waits to see the others (default: "
                                  "for a pair)")
    parser.add_argument("--votes", action="append", default=[], metavar="NODE=N")


def _set_cell(args: argparse.Namespace) -> int:
    from tandem.inventory.edit import CellChange, set_cell

    votes = {k: _int(v, "--votes") for k, v in key_values(args.votes, "--votes", False).items()}
    change = CellChange(kind=args.kind, members=args.members, heartbeat=_csv(args.heartbeat),
                        qdisk=args.qdisk, key_file=args.key_file,
                        heartbeat_ms=args.heartbeat_ms, token_ms=args.token_ms,
                        fence_delay_ms=args.fence_delay_ms, wait_for_all=args.wait_for_all,
                        votes=votes)
    return write(args, f"cell {args.name}", lambda s: "added" if set_cell(s, args.name, change)
                 else "changed")


def _int(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not an integer") from None


# -- fence, service, resource ------------------------------------------------------------------
def _fence_args(parser: argparse.ArgumentParser) -> None:
    """add or change a fence device of a cell (levels: every member is fenced through
    level 1's devices, then level 2's, ...; without devices, through each node's BMC)"""
    parser.add_argument("cell", metavar="CELL")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--type", choices=("ipmi", "external", "manual"))
    parser.add_argument("--level", type=int)
    parser.add_argument("--agent", metavar="fence_...")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--address")
    parser.add_argument("--port", type=int)
    parser.add_argument("--user")
    parser.add_argument("--password-file", metavar="PATH")
    parser.add_argument("--password", help=argparse.SUPPRESS)
    parser.add_argument("--delay-ms", type=int)
    parser.add_argument("--timeout-s", type=float)


def _set_fence(args: argparse.Namespace) -> int:
    from tandem.inventory.cellparts import FenceChange, set_fence

    _refuse_secret(args.password, "--password")
    change = FenceChange(type=args.type, level=args.level, agent=args.agent,
                         options=key_values(args.option, "--option", False),
                         address=args.address, port=args.port, user=args.user,
                         password_file=args.password_file, delay_ms=args.delay_ms,
                         timeout_s=args.timeout_s)
    return write(args, f"fence device {args.name} of {args.cell}",
                 lambda s: "added" if set_fence(s, args.cell, args.name, change) else "changed")


def _service_args(parser: argparse.ArgumentParser) -> None:
    """add or change a service of a cell (its resources: db set resource)"""
    parser.add_argument("cell", metavar="CELL")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--domain", metavar="NODESET", help="where it may run, preferred "
                        "first, in the order written (io6,io5: io6 first)")
    _bool(parser, "autostart", "start it once the cell has formed (default: yes)")
    parser.add_argument("--recovery", choices=RECOVERIES)
    parser.add_argument("--max-restarts", type=int)
    _bool(parser, "restricted", "only on the domain's nodes")
    _bool(parser, "failback", "move back to a preferred node when it returns")
    parser.add_argument("--resource", action="append", default=[], metavar="NAME=AGENT",
                        help="add a resource at the end (repeatable; parameters: db set "
                             "resource)")


def _set_service(args: argparse.Namespace) -> int:
    from tandem.inventory.cellparts import ServiceChange, set_service

    change = ServiceChange(domain=args.domain, autostart=args.autostart,
                           recovery=args.recovery, max_restarts=args.max_restarts,
                           restricted=args.restricted, failback=args.failback,
                           resources=tuple(key_values(args.resource, "--resource",
                                                      False).items()))
    return write(args, f"service {args.name} of {args.cell}",
                 lambda s: "added" if set_service(s, args.cell, args.name, change)
                 else "changed")


def _resource_args(parser: argparse.ArgumentParser) -> None:
    """add or change a resource of a service (started in position order)"""
    parser.add_argument("cell", metavar="CELL")
    parser.add_argument("service", metavar="SERVICE")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--agent")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a parameter (value read as TOML when it can be: 10, true, "
                             "[1, 2])")
    parser.add_argument("--drop-param", action="append", default=[], metavar="KEY")
    parser.add_argument("--position", type=int, help="1 is started first")
    parser.add_argument("--monitor-interval", type=float, metavar="S")


def _set_resource(args: argparse.Namespace) -> int:
    from tandem.inventory.cellparts import ResourceChange, set_resource

    change = ResourceChange(agent=args.agent, params=key_values(args.param, "--param", True),
                            drop_params=tuple(args.drop_param), position=args.position,
                            monitor_interval_s=args.monitor_interval)
    return write(args, f"resource {args.name} of {args.cell}/{args.service}",
                 lambda s: "added" if set_resource(s, args.cell, args.service, args.name,
                                                   change) else "changed")


# -- storage --------------------------------------------------------------------------------------
def _filesystem_args(parser: argparse.ArgumentParser) -> None:
    """add or change a file system (Lustre, or one an NFS cell serves)"""
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--type", choices=("lustre", "ext3", "ext4", "xfs"))
    parser.add_argument("--cell", help="the cell that serves it ('' for none)")
    parser.add_argument("--device")
    parser.add_argument("--mount-point")


def _set_filesystem(args: argparse.Namespace) -> int:
    from tandem.inventory.storage import FilesystemChange, set_filesystem

    change = FilesystemChange(type=args.type, cell=args.cell, device=args.device,
                              mount_point=args.mount_point)
    return write(args, f"file system {args.name}",
                 lambda s: "added" if set_filesystem(s, args.name, change) else "changed")


def _target_args(parser: argparse.ArgumentParser) -> None:
    """add or change a Lustre target (MGT, MDT, OST) and the nodes that serve it"""
    parser.add_argument("filesystem", metavar="FILESYSTEM")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--kind", choices=("mgt", "mdt", "ost"))
    parser.add_argument("--device")
    parser.add_argument("--primary", metavar="NODE")
    parser.add_argument("--secondary", metavar="NODE")
    parser.add_argument("--active", metavar="NODE")


def _set_target(args: argparse.Namespace) -> int:
    from tandem.inventory.storage import TargetChange, set_target

    change = TargetChange(kind=args.kind, device=args.device, primary=args.primary,
                          secondary=args.secondary, active=args.active)
    return write(args, f"target {args.name} of {args.filesystem}",
                 lambda s: "added" if set_target(s, args.filesystem, args.name, change)
                 else "changed")


def _export_args(parser: argparse.ArgumentParser) -> None:
    """add or change a directory an NFS cell exports"""
    parser.add_argument("cell", metavar="CELL")
    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--clients", help="who may mount it (default *)")
    parser.add_argument("--options", help="export options (default rw,sync)")
    parser.add_argument("--fsid", type=int)
    parser.add_argument("--filesystem")


def _set_export(args: argparse.Namespace) -> int:
    from tandem.inventory.storage import ExportChange, set_export

    change = ExportChange(clients=args.clients, options=args.options, fsid=args.fsid,
                          filesystem=args.filesystem)
    return write(args, f"export {args.path} of {args.cell}",
                 lambda s: "added" if set_export(s, args.cell, args.path, change)
                 else "changed")
