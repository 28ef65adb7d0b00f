"""STATE messages: what a node tells its peers about services (its report, the operator
intents it knows, and — from the coordinator — the placement). Compressed JSON, so a
cell with hundreds of services still fits in one datagram.

A service a node has never run (stopped, generation 0) is left out of its report: a
missing entry reads as exactly that (`NodeReport.get`), and in a large cell most
services never ran on most nodes, so messages stay small and quick to decode."""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.manager.model import Assignment, Intent, NodeReport, ServiceReport
from tandem.wire import BadPayload

log = logging.getLogger("tandemd.sync")
NEVER_RAN = ServiceReport()


@dataclass
class StateMessage:
    """The decoded content of one STATE message."""

    report: NodeReport
    intents: dict[str, Intent] = field(default_factory=dict)
    placement: dict[str, Assignment] | None = None
    notes: dict[str, str] = field(default_factory=dict)


def encode_state(msg: StateMessage) -> bytes:
    doc: dict[str, Any] = {
        "p": msg.report.probed,
        "s": {name: r.to_wire() for name, r in msg.report.services.items()
              if r != NEVER_RAN},
        "i": {name: i.to_wire() for name, i in msg.intents.items()},
    }
    if msg.placement is not None:
        doc["pl"] = {name: a.to_wire() for name, a in msg.placement.items()}
        doc["n"] = msg.notes
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def decode_state(payload: bytes) -> StateMessage:
    """Parse a STATE body; BadPayload if it is not one."""
    try:
        doc = json.loads(zlib.decompress(payload, bufsize=1 << 16))
        report = NodeReport(bool(doc["p"]), {str(k): ServiceReport.from_wire(v)
                                             for k, v in doc["s"].items()})
        intents = {str(k): Intent.from_wire(v) for k, v in doc.get("i", {}).items()}
        placement = None
        if "pl" in doc:
            placement = {str(k): Assignment.from_wire(v) for k, v in doc["pl"].items()}
        notes = {str(k): str(v) for k, v in doc.get("n", {}).items()}
    except (zlib.error, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise BadPayload(f"unreadable STATE message: {exc}") from None
    return StateMessage(report, intents, placement, notes)


def merge_intents(mine: dict[str, Intent], theirs: dict[str, Intent]) -> list[str]:
    """Adopt every newer intent from `theirs`; returns the services that changed."""
    changed = []
    for name, intent in theirs.items():
        current = mine.get(name)
        if current is None or intent.newer_than(current):
            mine[name] = intent
            changed.append(name)
    return changed


def load_intents(path: Path) -> dict[str, Intent]:
    try:
        doc = json.loads(path.read_text())
        return {str(k): Intent.from_wire(v) for k, v in doc.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, IndexError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}


def save_intents(path: Path, intents: dict[str, Intent]) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({k: v.to_wire() for k, v in intents.items()}))
        tmp.replace(path)
    except OSError as exc:
        log.warning("cannot save operator intents to %s: %s", path, exc)
