"""Asking a lab node's daemon, from outside: the `tandem` CLI run inside the node, its
status (`tandem status --json`, as the JSON document or typed) and its timeline
(`tandem events --json`).

One implementation for the demo, the lab tests and the benchmarks, so that they all
read the same documents the same way: a daemon that does not answer (node off, daemon
stopped, command timed out, a reply cut short) reads as None, never as an exception.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tandem.common.status import CellStatus
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError

STATUS_TIMEOUT_S = 10.0
Document = dict[str, Any]  # a status as the JSON document
Event = dict[str, Any]


def tandem_argv(*args: str) -> list[str]:
    """The `tandem` command with this interpreter (whatever PATH says in the node)."""
    return [sys.executable, "-m", "tandem", *args]


def tandem_in(control: NodeControl, node: str, *args: str,
              timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run the `tandem` CLI inside a lab node (LabError if the node is off)."""
    return subprocess.run(control.exec_argv(node, tandem_argv(*args)), capture_output=True,
                          text=True, timeout=timeout, check=False)


def node_status(control: NodeControl, node: str,
                timeout: float = STATUS_TIMEOUT_S) -> Document | None:
    """`tandem status --json` of a node's daemon; None if it does not answer."""
    try:
        done = tandem_in(control, node, "status", "--json", timeout=timeout)
    except (LabError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def cell_status(control: NodeControl, node: str,
                timeout: float = STATUS_TIMEOUT_S) -> CellStatus | None:
    """The status of a node's daemon, typed (tandem.common.status); None if it does not
    answer. A document that does not fit the contract raises: that is a bug."""
    document = node_status(control, node, timeout)
    return CellStatus.from_json(document, f"status of {node}") if document else None


def service_owner(control: NodeControl, observer: str, service: str) -> str | None:
    """Where `observer`'s daemon says `service` is started (None: nowhere, or no answer)."""
    status = cell_status(control, observer)
    row = status.service(service) if status else None
    return row.owner if row is not None and row.state == "started" else None


def states(status: Document | None) -> dict[str, str]:
    """node name -> state, from a status document (empty without one)."""
    return {n["name"]: n["state"] for n in status["nodes"]} if status else {}


def node_events(control: NodeControl, node: str) -> list[Event]:
    """The timeline the node's running daemon keeps in memory; LabError if it cannot
    be read (unlike a status, a missing timeline is an error for whoever asked)."""
    try:
        done = tandem_in(control, node, "events", "--json")
    except subprocess.TimeoutExpired:
        raise LabError(f"events of {node}: no answer in time") from None
    if done.returncode != 0:
        raise LabError(f"events of {node}: {done.stderr.strip()}")
    events: list[Event] = json.loads(done.stdout)
    return events
