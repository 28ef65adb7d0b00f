"""`tandem page`: the status page of every selected cell, served by the management node.

Each cell is a tile: its I/O pair status (as `tandem check pairs`), its members and
whether they answered, quorum, where each service runs and whether it migrated, its
fence devices, and its last events. A thread reads the cells every --interval seconds
with the fan-out of `tandem cells status`; a page load only renders the last data.
`/` is the page (it refreshes itself), `/status.json` the same data. A cell that did not
answer shows its last good data with its age. Serve on 0.0.0.0:PORT (or [::]:PORT) to
read it from another machine; it has no login of its own: put it behind a proxy that
has one, or keep it on the admin network.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from tandem.cli.cells_cmd import add_options, add_selection, open_source, settings_of
from tandem.cli.common import Sub, UsageError
from tandem.cli.exporter_cmd import listen_address, positive_seconds
from tandem.cli.render import print_json
from tandem.common.errors import EXIT_OK
from tandem.fleet.operations import Fleet
from tandem.fleet.source import CellSource, Selection
from tandem.fleet.transport import ClusterShellTransport
from tandem.monitor.pagesrv import DEFAULT_LISTEN, Gatherer, Refresher, serve


def register(sub: Sub) -> None:
    page = sub.add_parser("page", help="serve a status page of the selected cells "
                                       "(management node)", description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection(page)
    add_options(page)
    page.add_argument("--listen", type=listen_address, default=DEFAULT_LISTEN,
                      metavar="ADDR:PORT", help=f"where to serve (default {DEFAULT_LISTEN})")
    page.add_argument("--interval", type=positive_seconds, default=5.0, metavar="S",
                      help="read the cells every S seconds (default 5)")
    page.add_argument("--events", type=int, default=8, metavar="N",
                      help="the last N events of each cell (default 8; 0: none)")
    page.set_defaults(func=cmd_page, operation="status")


def gatherer(args: argparse.Namespace) -> Gatherer:
    """One refresh as the command line asked; a bad selection is refused here, before
    anything is served (FleetError or UsageError, one line)."""
    if args.events < 0:
        raise UsageError(f"--events must be 0 or more, got {args.events}")
    selection = Selection(all=args.all, include=args.include, exclude=args.exclude)
    settings = settings_of(args)
    source = _sources(args)
    transport = ClusterShellTransport(settings)
    Fleet(source(), transport, settings).plans(selection, strict=False)  # no fan-out
    return Gatherer(source, transport, settings, selection, timeout=args.timeout,
                    events=args.events)


def _sources(args: argparse.Namespace) -> Callable[[], CellSource]:
    """The source for each refresh: a directory is read anew (cells added while the
    page runs appear), the inventory is opened once (it reads the cells at each call)."""
    if args.from_dir:
        return lambda: open_source(args)
    source = open_source(args)
    return lambda: source


def cmd_page(args: argparse.Namespace) -> int:
    """Serve until interrupted; with --json, print one refresh as /status.json would."""
    gather = gatherer(args)
    if args.json:
        print_json(gather(None).to_json(time.time()))
        return EXIT_OK
    refresher = Refresher(gather, args.interval)
    host, port = args.listen
    server = serve(host, port, refresher)
    where = f"[{host}]" if ":" in host else host
    print(f"tandem page: serving http://{where}:{server.port}/ (cells read every "
          f"{args.interval:g} s)", file=sys.stderr, flush=True)
    refresher.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        refresher.stop()
        server.server_close()
    return EXIT_OK
