"""Talking to the local tandemd over its control socket."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import Any

from tandem.common.errors import TandemError
from tandem.common.status import CellStatus

DEFAULT_SOCKET = "/run/tandem/tandemd.sock"


class ControlError(TandemError):
    """The daemon could not be reached, or refused the request (one-line message)."""


def socket_path() -> str:
    return os.environ.get("TANDEM_SOCKET", DEFAULT_SOCKET)


def call(command: str, args: dict[str, Any] | None = None, *, timeout: float = 10.0,
         path: str | None = None) -> Any:
    """Send one command and return its result; ControlError on any failure."""
    where = path or socket_path()
    request = json.dumps({"cmd": command, "args": args or {}}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(where)
            # A refusal may be answered and the socket closed before our request was
            # read: the send then fails, but the answer is there to read.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(request)
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except FileNotFoundError:
        raise ControlError(f"tandemd is not running on this node (no {where})") from None
    except ConnectionRefusedError:
        raise ControlError(f"tandemd is not running on this node ({where} refuses "
                           f"connections)") from None
    except PermissionError:
        raise ControlError(f"permission denied on {where}: run as root") from None
    except TimeoutError:
        raise ControlError(f"tandemd did not answer {command!r} within {timeout:g} s") \
            from None
    except OSError as exc:
        raise ControlError(f"cannot talk to tandemd at {where}: {exc}") from None
    if not data:
        raise ControlError(f"tandemd at {where} closed the connection without an answer")
    try:
        response = json.loads(data)
    except ValueError:
        raise ControlError("tandemd sent an unreadable answer") from None
    if not response.get("ok"):
        raise ControlError(str(response.get("error", "request failed")))
    return response.get("result")


def cell_status(timeout: float = 10.0) -> CellStatus:
    """The local daemon's status (`tandem status`); ControlError if it does not answer,
    RecordError if the answer is not a status."""
    return CellStatus.from_json(call("status", timeout=timeout), "tandemd status")
