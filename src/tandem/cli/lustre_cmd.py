"""`tandem lustre show [FS|TARGET]` and `tandem lustre list [-f FS]`: the Lustre file
systems of the inventory, their targets (kind, device, primary, secondary, the node
each is active on) and the `lustre_<node>` service that holds each, with where its cell
last said it runs (the manual's `lustre_ldap show|list` and `lustre_util info -f FS`).

`show` without a name is one line per file system: its targets by kind, whether HA
holds them all, how many run on their secondary (migrated) or on no known node. The
database is `--db URL`, else $TANDEM_DB, else the SQLite file of `tandem db`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tandem.cli.common import Sub, UsageError
from tandem.cli.db_cmd import DB_HELP
from tandem.cli.render import print_json, table

Row = dict[str, Any]
TARGET_COLUMNS = (("FS", "filesystem"), ("TARGET", "name"), ("KIND", "kind"),
                  ("DEVICE", "device"), ("PRIMARY", "primary"), ("SECONDARY", "secondary"),
                  ("ACTIVE", "active"), ("SERVICE", "service"), ("RUNS ON", "service_on"))


def register(sub: Sub) -> None:
    lustre = sub.add_parser("lustre", help="Lustre file systems: targets, their nodes "
                            "and the lustre_<node> services", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    lustre.set_defaults(group_parser=lustre)
    cmds = lustre.add_subparsers(title="commands", metavar="COMMAND")
    show = cmds.add_parser("show", help="the file systems' HA state, or one file system "
                           "or target in detail")
    show.add_argument("name", nargs="?", metavar="FS|TARGET")
    show.set_defaults(func=cmd_show)
    listing = cmds.add_parser("list", help="every target (of one file system with -f)")
    listing.add_argument("-f", dest="filesystem", metavar="FS", help="only this file system")
    listing.set_defaults(func=cmd_list)
    for parser in (show, listing):
        parser.add_argument("--db", metavar="URL", help=DB_HELP)
        parser.add_argument("--json", action="store_true")


def _read(args: argparse.Namespace) -> tuple[list[Row], list[Row]]:
    """(file system rows, target rows) in one read transaction."""
    from tandem.hpc.lustre.view import filesystem_rows, target_rows
    from tandem.inventory.database import Database

    db = Database(args.db)
    try:
        with db.transaction() as session:
            return filesystem_rows(session), target_rows(session)
    finally:
        db.dispose()


def cmd_list(args: argparse.Namespace) -> int:
    filesystems, targets = _read(args)
    if args.filesystem is not None:
        _known(filesystems, args.filesystem)
        targets = [t for t in targets if t["filesystem"] == args.filesystem]
    if args.json:
        print_json(targets)
    elif targets:
        _targets_table(targets)
    else:
        print("no Lustre target in the inventory", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    filesystems, targets = _read(args)
    if args.name is None:
        return _show_all(filesystems, args.json)
    found = [fs for fs in filesystems if fs["name"] == args.name]
    if found:
        mine = [t for t in targets if t["filesystem"] == args.name]
        if args.json:
            print_json({**found[0], "targets": mine})
        else:
            _fs_lines(found[0])
            _targets_table(mine)
        return 0
    named = [t for t in targets if t["name"] == args.name]
    if not named:
        _known(filesystems, args.name, "file system or target")
    if len(named) > 1:
        raise UsageError(f"target {args.name} is in file systems "
                         f"{', '.join(t['filesystem'] for t in named)}: `tandem lustre list "
                         f"-f FS` shows each")
    if args.json:
        print_json(named[0])
    else:
        for key, value in named[0].items():
            print(f"{key.replace('_', ' ')}: {_text(value)}")
    return 0


def _known(filesystems: list[Row], name: str, what: str = "file system") -> None:
    if all(fs["name"] != name for fs in filesystems):
        names = ", ".join(fs["name"] for fs in filesystems) or "none"
        raise UsageError(f"no Lustre {what} named {name!r} in the inventory (file "
                         f"systems: {names})")


def _show_all(filesystems: list[Row], as_json: bool) -> int:
    if as_json:
        print_json(filesystems)
    elif filesystems:
        table(("FS", "MGT", "MDT", "OST", "HA", "CELLS", "MIGRATED", "INACTIVE"),
              [(fs["name"], fs["mgt"], fs["mdt"], fs["ost"], _yes(fs["ha"]),
                ",".join(fs["cells"]) or "-", fs["migrated"], fs["inactive"])
               for fs in filesystems])
    else:
        print("no Lustre file system in the inventory", file=sys.stderr)
    return 0


def _fs_lines(fs: Row) -> None:
    print(f"file system {fs['name']}: {fs['mdt']} MDT, {fs['ost']} OST"
          + (f", {fs['mgt']} MGT" if fs["mgt"] else "")
          + f"; HA: {_yes(fs['ha'])}; cells: {', '.join(fs['cells']) or '-'}")
    print(f"  migrated: {fs['migrated']}, on no known node: {fs['inactive']}; clients "
          f"mount it at {fs['mount_point'] or '-'}")


def _targets_table(targets: list[Row]) -> None:
    table([h for h, _ in TARGET_COLUMNS],
          [[_text(t[key]) for _, key in TARGET_COLUMNS] for t in targets])


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _text(value: Any) -> str:
    return "-" if value is None else str(value)
