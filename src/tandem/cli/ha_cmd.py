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
from tandem.hpc.mgmt.context import (
    DEFAULT_CLUSTER_CONFIG,
    DEFAULT_ROOT,
    DEFAULT_RUN_DIR,
    DEFAULT_TIMEOUT_S,
    MgmtContext,
)
from tandem.hpc.mgmt.errors import EXIT_FAILED, EXIT_OK, MgmtError
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
    """Run one tool action; the only place its failures become messages and statuses."""
    try:
        summary = TOOLS[name](context_from(args)).run(args.action)
    except MgmtError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_status
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


def standalone(name: str) -> Callable[[], None]:
    """The console-script entry of tool `name` (`halinks repair`, ...)."""

    def main(argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(prog=name, description=TOOLS[name].summary)
        add_options(parser, name)
        args = parser.parse_args(argv)
        try:
            status = run_tool(name, args)
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            status = 130
        except BrokenPipeError:
            status = EXIT_FAILED
        sys.exit(status)

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
