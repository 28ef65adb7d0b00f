"""`tandem ha NAME ACTION` and the stand-alone commands with the manual's names
(`haservices start`, `halinks repair`, ...): the command-line boundary of the
management-node toolkit (tandem.hpc.mgmt), where its failures become one-line messages
and exit statuses: 0 OK, 1 a failed check or action, 2 bad usage or bad data.

Settings default from the environment (TANDEM_HA_ROOT, ...) so that commands started by
haservices, which passes only the action, inherit the caller's settings.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from tandem.cli.common import Sub
from tandem.cli.guard import guarded, report_error
from tandem.config.model import TimingDef
from tandem.hpc.mgmt import config_admin
from tandem.hpc.mgmt.context import (
    DEFAULT_CLUSTER_CONFIG,
    DEFAULT_ROOT,
    DEFAULT_RUN_DIR,
    DEFAULT_TIMEOUT_S,
    MgmtContext,
)
from tandem.hpc.mgmt.errors import EXIT_FAILED, EXIT_OK, MgmtError, UsageProblem
from tandem.hpc.mgmt.tools import TOOLS
from tandem.hpc.mgmt.transport import CommandTransport, SshTransport, Transport

ENV_PREFIX = "TANDEM_HA_"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def add_options(parser: argparse.ArgumentParser, name: str) -> None:
    """The action argument of tool `name` and the settings every tool shares."""
    tool = TOOLS[name]
    parser.add_argument("action", nargs="?" if tool.default_action else None,
                        choices=tool.actions, help="what to do")
    where = parser.add_argument_group("where things are")
    where.add_argument("--root", type=Path, default=Path(_env("ROOT", str(DEFAULT_ROOT))),
                       help="directory of the data files (default %(default)s; "
                            "env TANDEM_HA_ROOT)")
    where.add_argument("--sysroot", type=Path, default=Path(_env("SYSROOT", "/")),
                       help="prefix of every system path (default /; env TANDEM_HA_SYSROOT)")
    where.add_argument("--cluster-config", type=Path,
                       default=Path(_env("CLUSTER_CONFIG", str(DEFAULT_CLUSTER_CONFIG))),
                       help="cell configuration, to list the management nodes when "
                            "ROOT/adminnodes does not exist")
    where.add_argument("--run-dir", type=Path, default=Path(_env("RUN_DIR", str(DEFAULT_RUN_DIR))),
                       help=argparse.SUPPRESS)
    peer = parser.add_argument_group("the other management node")
    peer.add_argument("--peer", default=_env("PEER") or None,
                      help="its name (default: the other node of haadminnodes)")
    peer.add_argument("--peer-command", default=_env("PEER_COMMAND"), metavar="TEMPLATE",
                      help="command prefix that runs a command there, {peer} replaced by "
                           "its name (default: ssh), e.g. 'tandem lab exec --lab L {peer} --'")
    peer.add_argument("--peer-sysroot", default=_env("PEER_SYSROOT", "/"),
                      help="prefix of system paths on the peer (default /)")
    peer.add_argument("--package-command", default=_env("PACKAGE_COMMAND"), metavar="CMD",
                      help="harpms: command printing 'NAME VERSION' lines (default: dpkg "
                           "or rpm)")
    misc = parser.add_argument_group("behaviour")
    misc.add_argument("--force", action="store_true",
                      help="hasynchro: run even if this node does not look active")
    misc.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                      help="deadline of each command the tool runs (default %(default)g s)")
    misc.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def _say(line: str) -> None:
    print(line, flush=True)


def _discard(_line: str) -> None:
    pass


def context_from(args: argparse.Namespace) -> MgmtContext:
    """The toolkit environment the command line describes."""
    transport: Transport = (CommandTransport.parse(args.peer_command) if args.peer_command
                            else SshTransport())
    return MgmtContext(root=args.root, sysroot=args.sysroot, peer=args.peer,
                       transport=transport, peer_sysroot=args.peer_sysroot,
                       cluster_config=args.cluster_config, run_dir=args.run_dir,
                       package_command=tuple(shlex.split(args.package_command)),
                       force=args.force, command_timeout_s=args.timeout,
                       out=_discard if args.quiet else _say)


def run_tool(name: str, args: argparse.Namespace) -> int:
    """Run one tool action; its failures are reported under the tool's own name (also
    as `tandem ha NAME`)."""
    return guarded(name, lambda: _run_tool(name, args))


def _run_tool(name: str, args: argparse.Namespace) -> int:
    summary = TOOLS[name](context_from(args)).run(args.action)
    if summary:
        print(f"{name} {args.action or TOOLS[name].default_action}: {summary}", flush=True)
    return EXIT_OK


def register(sub: Sub) -> None:
    """Adds `tandem ha NAME ACTION`, one sub-command per tool."""
    ha = sub.add_parser("ha", help="the management-node toolkit (/etc/HA)",
                        description="The management-node toolkit: each tool reads its data "
                                    "file under --root (default /etc/HA).")
    ha.set_defaults(group_parser=ha)
    tools = ha.add_subparsers(title="tools", metavar="TOOL")
    for name, tool in TOOLS.items():
        parser = tools.add_parser(name, help=tool.summary, description=tool.summary)
        add_options(parser, name)
        parser.set_defaults(func=lambda args, name=name: run_tool(name, args))
    admin = tools.add_parser(CONFIG_ADMIN, help=CONFIG_ADMIN_SUMMARY,
                             description=CONFIG_ADMIN_SUMMARY)
    add_config_admin_options(admin)
    admin.set_defaults(func=run_config_admin)


CONFIG_ADMIN = "config-admin"
CONFIG_ADMIN_SUMMARY = ("generate the cell configuration of the management-node pair "
                        "(the manual's cs-config-admin) and explain it")


def add_config_admin_options(parser: argparse.ArgumentParser) -> None:
    """`config-admin [NODE [NODE]]` and its choices."""
    timing = TimingDef()
    parser.add_argument("nodes", nargs="*", metavar="NODE",
                        help="the secondary node (this node is the other), or both nodes "
                             "(default: ROOT/adminnodes)")
    parser.add_argument("--root", type=Path, default=Path(_env("ROOT", str(DEFAULT_ROOT))),
                        help="the /etc/HA directory to read (default %(default)s)")
    parser.add_argument("--node-root", metavar="DIR",
                        help="that directory as the nodes see it (default: --root)")
    parser.add_argument("--inventory", type=Path, metavar="FILE",
                        help="the nodes' addresses and BMCs (default: the inventory "
                             "database's management cell, else ROOT/"
                             f"{config_admin.INVENTORY_FILE})")
    parser.add_argument("--db", metavar="URL", help="the inventory database (default: "
                        "$TANDEM_DB, else /var/lib/tandem/inventory.db if it exists)")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write the configuration there (default: standard output, "
                             "the explanation then goes to standard error)")
    parser.add_argument("--name", default="mgmt", help="cluster name (default %(default)s)")
    parser.add_argument("--key-file", default="/etc/tandem/cluster.key", metavar="FILE")
    parser.add_argument("--config-version", type=int, metavar="N",
                        help="default: one more than the version of --output, else 1")
    parser.add_argument("--no-wait-for-all", dest="wait_for_all", action="store_false",
                        help="let a node that boots alone act without seeing its peer")
    parser.add_argument("--autostart", action="store_true",
                        help=f"start {config_admin.SERVICE} by itself (default: by hand, "
                             f"clusvcadm -e {config_admin.SERVICE})")
    parser.add_argument("--fence-delay-ms", type=int, default=3000, metavar="MS",
                        help="how long fencing the primary waits (it wins fence races)")
    parser.add_argument("--heartbeat-ms", type=int, default=timing.heartbeat_ms, metavar="MS")
    parser.add_argument("--token-ms", type=int, default=timing.token_ms, metavar="MS",
                        help="silence after which a node is lost (default %(default)s)")
    parser.add_argument("--command-timeout", type=float, default=120.0, metavar="S",
                        help="deadline of each command of the lists (default %(default)g)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment for haservices and its commands (repeatable)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no explanation")


def _choices(args: argparse.Namespace) -> config_admin.Choices:
    env = {}
    for word in args.env:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--env: expected KEY=VALUE, got {word!r}")
        env[key] = value
    if args.fence_delay_ms < 0 or args.command_timeout <= 0:
        raise UsageProblem("--fence-delay-ms must be >= 0 and --command-timeout > 0")
    return config_admin.Choices(
        name=args.name, key_file=args.key_file, config_version=args.config_version,
        wait_for_all=args.wait_for_all, autostart=args.autostart,
        timing=TimingDef(heartbeat_ms=args.heartbeat_ms, token_ms=args.token_ms),
        fence_delay_ms=args.fence_delay_ms, command_timeout_s=args.command_timeout,
        env=env, node_root=args.node_root)


def _write_private(path: Path, text: str) -> None:
    """Replace `path` in one step; mode 0600, since it may hold BMC passwords."""
    partial = path.with_name(f".{path.name}.config-admin")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def run_config_admin(args: argparse.Namespace) -> int:
    """Generate, write and explain; failures become one line and exit status 2/1."""
    ctx = MgmtContext(root=args.root)
    try:
        choices = _choices(args)
        from_db = None if args.inventory else config_admin.database_pair(args.db)
        if from_db is not None:
            inventory, pair = from_db
            nodes = config_admin.pick_nodes(ctx, args.nodes) if args.nodes else pair
        else:
            nodes = config_admin.pick_nodes(ctx, args.nodes)
            inventory = config_admin.load_inventory(
                args.inventory or args.root / config_admin.INVENTORY_FILE)
        files = config_admin.read_ha_files(ctx)
        made = config_admin.generate(inventory, nodes, files, choices, output=args.output)
        if args.output:
            _write_private(args.output, made.text)
    except MgmtError as exc:
        return report_error(CONFIG_ADMIN, exc)
    except OSError as exc:
        print(f"{CONFIG_ADMIN}: error: {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    report = sys.stdout if args.output else sys.stderr
    if not args.output:
        sys.stdout.write(made.text)
        sys.stdout.flush()
    if not args.quiet:
        where = args.output or "standard output"
        print(f"{CONFIG_ADMIN}: configuration of {nodes[0]} and {nodes[1]} written to "
              f"{where}:", file=report)
        for line in made.explanation:
            print(f"  {line}", file=report)
    for warning in made.warnings:
        print(f"{CONFIG_ADMIN}: warning: {warning}", file=sys.stderr)
    return EXIT_OK


def config_admin_main(argv: list[str] | None = None) -> None:
    """The console-script entry `cs-config-admin` (the manual's name)."""
    parser = argparse.ArgumentParser(prog="cs-config-admin", description=CONFIG_ADMIN_SUMMARY)
    add_config_admin_options(parser)
    args = parser.parse_args(argv)
    sys.exit(guarded(CONFIG_ADMIN, lambda: run_config_admin(args)))


def standalone(name: str) -> Callable[[], None]:
    """The console-script entry of tool `name` (`halinks repair`, ...)."""

    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=name, description=TOOLS[name].summary)
        add_options(parser, name)
        sys.exit(run_tool(name, parser.parse_args(argv)))

    main.__name__ = f"{name}_main"
    return main


haservices_main = standalone("haservices")
haip_main = standalone("haip")
hamount_main = standalone("hamount")
halinks_main = standalone("halinks")
hapidcleaner_main = standalone("hapidcleaner")
hasynchro_main = standalone("hasynchro")
hacron_main = standalone("hacron")
haunwantedfiles_main = standalone("haunwantedfiles")
harpms_main = standalone("harpms")
hatstfs_main = standalone("hatstfs")
haadminnodes_main = standalone("haadminnodes")
hafake_main = standalone("hafake")
hadown_main = standalone("hadown")
