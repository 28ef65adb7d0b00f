"""`tandem db init | show | set | remove | import | export | generate`: the cluster
inventory (tandem.inventory) from the command line.

Nodes are named with ClusterShell node sets everywhere (`io[1-16]`, `@lustre`,
`@cell:io1`); every read takes `--json`. Every write is one transaction that ends by
generating the configuration of each cell it touched, and says which cells' versions
moved; bad input is one line and changes nothing. The database is `--db URL`, else
$TANDEM_DB, else the SQLite file /var/lib/tandem/inventory.db.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tandem.cli.common import Sub, UsageError
from tandem.cli.render import print_json, table

DB_HELP = "inventory database URL (default: $TANDEM_DB, else sqlite:////var/lib/tandem/" \
          "inventory.db)"
SHOWABLE = ("nodes", "cells", "fence", "services", "locations", "filesystems", "targets",
            "exports")


def register(sub: Sub) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", help=DB_HELP)
    db = sub.add_parser("db", help="the cluster inventory (nodes, cells, services, storage)",
                        description=__doc__.split("\n\n")[0] if __doc__ else None)
    db.set_defaults(group_parser=db)
    cmds = db.add_subparsers(title="db commands", metavar="COMMAND")
    init = cmds.add_parser("init", parents=[common], help="create the tables, or upgrade them")
    init.set_defaults(func=cmd_init)
    show = cmds.add_parser("show", parents=[common], help="print part of the inventory")
    show.add_argument("what", nargs="?", choices=SHOWABLE, default="cells")
    show.add_argument("nodes", nargs="?", metavar="NODESET",
                      help="only these nodes and the cells they are in")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    _register_set(cmds, common)
    remove = cmds.add_parser("remove", parents=[common], help="remove something: node NAME, "
                             "cell NAME, fence CELL NAME, service CELL NAME, resource CELL "
                             "SERVICE NAME, filesystem NAME, target FS NAME, export CELL PATH")
    remove.add_argument("what")
    remove.add_argument("names", nargs="+", metavar="NAME")
    remove.set_defaults(func=cmd_remove)
    imp = cmds.add_parser("import", parents=[common], help="import inventory documents "
                          "(db export, inventory.toml), cell configurations, cluster.conf")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE")
    imp.add_argument("--kind", help="kind of the cells imported from cell files "
                                    "(default: as in the inventory, else generic)")
    imp.add_argument("--secrets-dir", type=Path, metavar="DIR",
                     help="write each password found inline to DIR/NAME.password (0600) "
                          "and keep that path (without it such files are refused); "
                          "cluster.conf fence passwords are expected there too")
    imp.add_argument("--address", action="append", default=[],
                     metavar="NODE=NET:IF:ADDR/PREFIX",
                     help="a cluster.conf node's address on a network, a heartbeat ring "
                          "in the order given (repeatable; default: the addresses the "
                          "inventory has for that node)")
    imp.set_defaults(func=cmd_import)
    exp = cmds.add_parser("export", parents=[common], help="the whole inventory as one "
                          "document that db import reads back")
    fmt = exp.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json")
    fmt.add_argument("--toml", dest="format", action="store_const", const="toml")
    exp.add_argument("-o", "--output", type=Path, metavar="FILE")
    exp.set_defaults(func=cmd_export, format="toml")
    gen = cmds.add_parser("generate", parents=[common], help="the cells' configurations "
                          "(regenerated; versions move only when the text changes)")
    gen.add_argument("cells", nargs="*", metavar="CELL")
    gen.add_argument("-o", "--output", type=Path, metavar="DIR",
                     help="write CELL.toml files there (default: print them)")
    gen.add_argument("--json", action="store_true", help="versions and hashes only")
    gen.set_defaults(func=cmd_generate)


def _database(args: argparse.Namespace) -> Any:
    from tandem.inventory.database import Database

    return Database(args.db)


def cmd_init(args: argparse.Namespace) -> int:
    db = _database(args)
    before, now = db.init()
    state = ("created" if before is None else "already at" if before == now
             else f"upgraded from {before} to")
    print(f"inventory {db.name}: {state} schema revision {now}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from tandem.inventory.show import show

    with _database(args).transaction() as session:
        rows = show(session, args.what, args.nodes)
    if args.json:
        print_json(rows)
    elif rows:
        headers = list(rows[0])
        table(headers, [[_cell_text(row.get(h)) for h in headers] for row in rows])
    else:
        print(f"no {args.what}", file=sys.stderr)
    return 0


def _cell_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(_cell_text(v.get("name", v) if isinstance(v, dict) else v)
                        for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={v['interface']}:{v['address']}" if isinstance(v, dict)
                        and "interface" in v else f"{k}={_cell_text(v)}"
                        for k, v in value.items())
    return str(value)


def write(args: argparse.Namespace, what: str, body: Callable[[Any], Any],
          before_commit: Callable[[], None] | None = None) -> int:
    """Run `body(session)` in one write transaction (then `before_commit`, once every
    changed cell is generated); say what it did."""
    from tandem.inventory.writes import change

    with change(_database(args)) as changes:
        result = body(changes.session)
        if before_commit is not None:
            changes.before_commit.append(before_commit)
    if result is not None:
        print(f"{what}: {result}")
    for cell, (old, new) in sorted(changes.versions.items()):
        print(f"cell {cell}: configuration version {old} -> {new}" if old else
              f"cell {cell}: configuration version {new} (first)")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from tandem.inventory.remove import remove

    def body(session: Any) -> str:
        remove(session, args.what, args.names)
        return "removed"

    return write(args, f"{args.what} {' '.join(args.names)}", body)


def cmd_import(args: argparse.Namespace) -> int:
    from tandem.config.importers.addresses import parse_address
    from tandem.config.importers.errors import OptionError
    from tandem.inventory.importer import Imported, ImportSettings, import_files
    from tandem.inventory.secrets import SecretFiles

    try:
        addresses = tuple(parse_address(word) for word in args.address)
    except OptionError as exc:
        raise UsageError(str(exc)) from None
    secrets = SecretFiles(args.secrets_dir)
    settings = ImportSettings(kind=args.kind, secrets=secrets, addresses=addresses)
    done: list[Imported] = []
    try:
        write(args, "import", lambda s: done.extend(import_files(s, args.files, settings)),
              before_commit=secrets.stage)
    except BaseException:
        secrets.discard()
        raise
    for path in secrets.publish():
        print(f"password written to {path} (mode 0600)")
    for imported in done:
        print(f"{imported.source}: imported ({imported.kind})")
        for note in imported.notes:
            print(f"  note: {note}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tandem.inventory.export import export_document, render

    with _database(args).transaction() as session:
        text = render(export_document(session), args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"inventory written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from tandem.inventory import models as m
    from tandem.inventory.edit import find_cell
    from tandem.inventory.writes import change

    with change(_database(args)) as changes:
        for name in args.cells:
            find_cell(changes.session, name)
        rows = [(c.name, c.config_version, c.config_hash, c.config_text)
                for c in changes.session.scalars(select(m.Cell).order_by(m.Cell.name))
                if not args.cells or c.name in args.cells]
    if args.json:
        print_json([{"cell": n, "config_version": v, "config_hash": h} for n, v, h, _ in rows])
        return 0
    for name, version, digest, text in rows:
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
            (args.output / f"{name}.toml").write_text(text, encoding="utf-8")
            print(f"cell {name}: version {version}, sha256 {digest[:12]} -> "
                  f"{args.output / (name + '.toml')}")
        else:
            sys.stdout.write(text)
    return 0


# -- db set ---------------------------------------------------------------------------------------
def _register_set(cmds: Any, common: argparse.ArgumentParser) -> None:
    from tandem.cli import db_set

    setp = cmds.add_parser("set", help="add or change a node, cell, fence device, service, "
                                       "resource, file system, target or export")
    setp.set_defaults(group_parser=setp)
    db_set.register(setp.add_subparsers(title="what", metavar="WHAT"), common)


def key_values(words: list[str], option: str, typed: bool) -> dict[str, Any]:
    """KEY=VALUE words as a dict; with `typed`, values read as TOML (10, true, "x",
    [1, 2]) when they can be, else kept as strings."""
    found: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise UsageError(f"{option}: expected KEY=VALUE, got {word!r}")
        found[key] = _typed(value) if typed else value
    return found


def _typed(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value
