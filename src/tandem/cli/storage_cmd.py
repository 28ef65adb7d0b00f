"""`tandem storage-error DEVICE`: the entry point for a site's own storage watcher.

A multipath checker, a SAN event daemon or a script reading a controller's log calls
it on the node whose path failed; every service running on that node that stands on
the device (or on a device built over it) is stopped and moved to a peer, without the
restarts in place that a service's own failure gets. tandemd's built-in watch of the
kernel log (`[storage] watch_kernel_log`, on by default) calls the same code.
"""

from __future__ import annotations

import argparse

from tandem.cli.client import call
from tandem.cli.common import Sub
from tandem.cli.render import print_json


def register(sub: Sub) -> None:
    text = "report back-end I/O errors on a device of this node (its services move)"
    cmd = sub.add_parser("storage-error", help=text, description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("device", metavar="DEVICE",
                     help="a device path (/dev/mapper/ost0), a kernel name (sdb, dm-3) or "
                          "MAJOR:MINOR")
    cmd.add_argument("--detail", default="", metavar="TEXT",
                     help="what the watcher saw (goes into the event log)")
    cmd.add_argument("--json", action="store_true", help="print the answer as JSON")
    cmd.set_defaults(func=cmd_storage_error)


def cmd_storage_error(args: argparse.Namespace) -> int:
    answer = call("storage_error", {"device": args.device, "detail": args.detail})
    if args.json:
        print_json(answer)
    elif answer["services"]:
        print(f"{answer['node']}: storage error on {answer['device']} "
              f"({answer['number']}): moving {', '.join(answer['services'])}")
    else:
        print(f"{answer['node']}: no service running here uses {answer['device']} "
              f"({answer['number']}): no action")
    return 0
