"""`tandem config install --stdin`: the node's side of `tandem cells push` (see
tandem.fleet.install). Reads the payload from stdin, prints one line of what it did."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from tandem.cli.client import ControlError, call, cell_status, socket_path
from tandem.cli.common import UsageError
from tandem.fleet.install import NodeFiles, install
from tandem.fleet.payload import decode_payload
from tandem.fleet.remote import NODE_CONFIG


def register(cmds: Any) -> None:
    """Add `install` to the `tandem config` commands."""
    inst = cmds.add_parser("install", help="install a configuration (and key) sent by "
                                           "`tandem cells push` on stdin")
    inst.add_argument("--stdin", action="store_true", required=True,
                      help="read the payload from stdin (the only way: never a file name "
                           "or an argument, so the key stays off command lines)")
    inst.add_argument("--node", help="this node's name (default: the host name)")
    inst.add_argument("--config", default=NODE_CONFIG, help="where the configuration goes "
                                                            "(default: %(default)s)")
    inst.set_defaults(func=cmd_install)


class LocalDaemon:
    """The local tandemd through its control socket."""

    def running_version(self) -> int | None:
        path = socket_path()
        if not os.path.exists(path) or _refuses(path):
            return None
        return cell_status().config_version

    def push(self, text: str) -> None:
        call("config_push", {"text": text})


def _refuses(path: str) -> bool:
    """A socket file with nobody behind it (a daemon that died)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return True
        except OSError as exc:
            raise ControlError(f"cannot talk to tandemd at {path}: {exc}") from None
    return False


def cmd_install(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        raise UsageError("the payload comes on stdin from `tandem cells push`")
    payload = decode_payload(sys.stdin.buffer.read())
    node = args.node or socket.gethostname().split(".")[0]
    print(install(payload, node, NodeFiles(config=Path(args.config)), LocalDaemon()))
    return 0
