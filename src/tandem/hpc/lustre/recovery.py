"""Lustre target names and the recovery status a target reports after it starts.

When an MDT or OST starts on the failover node, the clients reconnect and replay what
the old server had not committed; until they have (or the recovery window closes) the
target serves only them. `lctl get_param -n obdfilter.NAME.recovery_status` (an OST) or
`mdt.NAME.recovery_status` (an MDT) says where that stands, as `key: value` lines
(Lustre 2.12 to 2.15):

    status: RECOVERING            INACTIVE, WAITING_FOR_CLIENTS, WAITING, COMPLETE...
    recovery_start: 1700000000
    time_remaining: 120
    connected_clients: 3/10       RECOVERING: connected of expected clients
    completed_clients: 2          RECOVERING: a count; COMPLETE: "10/10"
    evicted_clients: 0

This module parses that text into `RecoveryStatus` and says it in one line
(`recovery_summary`) for status displays. It runs nothing itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# fsname (1-8 characters) - OST or MDT - 4 hex digits; or the management target.
TARGET_RE = re.compile(r"^(?:(?P<fs>[A-Za-z0-9_]{1,8})-(?P<kind>OST|MDT)[0-9a-fA-F]{4}|MGS)$")
RECOVERY_PARAM = {"OST": "obdfilter.{name}.recovery_status", "MDT": "mdt.{name}.recovery_status"}


def target_kind(name: str) -> str:
    """"OST", "MDT" or "MGS"; ValueError for a name Lustre would not give a target."""
    match = TARGET_RE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a Lustre target name (FSNAME-OSTxxxx, "
                         f"FSNAME-MDTxxxx or MGS)")
    return match.group("kind") or "MGS"


def recovery_param(name: str) -> str | None:
    """The lctl parameter holding the target's recovery status (None for the MGS,
    which has no client recovery)."""
    pattern = RECOVERY_PARAM.get(target_kind(name))
    return pattern.format(name=name) if pattern else None


def _count(text: str | None) -> tuple[int | None, int | None]:
    """"3/10" -> (3, 10); "3" -> (3, None); missing or unreadable -> (None, None)."""
    if not text:
        return None, None
    done, _, total = text.partition("/")
    try:
        return int(done), int(total) if total else None
    except ValueError:
        return None, None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RecoveryStatus:
    """One target's recovery, as its server reports it."""

    status: str                          # COMPLETE, RECOVERING, INACTIVE, ... or UNKNOWN
    connected: int | None = None         # clients reconnected so far
    completed: int | None = None         # clients done with replay
    expected: int | None = None          # clients the target knew before it went down
    evicted: int | None = None
    time_remaining_s: int | None = None  # RECOVERING: until the window closes
    duration_s: int | None = None        # COMPLETE: how long recovery took
    recovery_start: int | None = None    # seconds since the epoch
    values: dict[str, str] = field(default_factory=dict)  # every line, as read

    @property
    def in_progress(self) -> bool:
        return self.status in ("RECOVERING", "WAITING", "WAITING_FOR_CLIENTS")


def parse_recovery_status(text: str) -> RecoveryStatus:
    """The `key: value` lines of a recovery_status file (unknown keys are kept)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    connected, expected = _count(values.get("connected_clients"))
    completed, of_total = _count(values.get("completed_clients"))
    return RecoveryStatus(status=values.get("status", "UNKNOWN").upper() or "UNKNOWN",
                          connected=connected, completed=completed,
                          expected=expected if expected is not None else of_total,
                          evicted=_int(values.get("evicted_clients")),
                          time_remaining_s=_int(values.get("time_remaining")),
                          duration_s=_int(values.get("recovery_duration")),
                          recovery_start=_int(values.get("recovery_start")), values=values)


def recovery_summary(status: RecoveryStatus) -> str:
    """One line: "RECOVERING: 3/10 clients connected, 2 done, 120 s left"."""
    parts = []
    if status.connected is not None:
        of = f"/{status.expected}" if status.expected is not None else ""
        parts.append(f"{status.connected}{of} clients connected")
    if status.completed is not None:
        if status.status == "COMPLETE" and status.expected is not None:
            parts.append(f"{status.completed}/{status.expected} clients recovered")
        else:
            parts.append(f"{status.completed} done")
    if status.evicted:
        parts.append(f"{status.evicted} evicted")
    if status.time_remaining_s is not None:
        parts.append(f"{status.time_remaining_s} s left")
    if status.duration_s is not None:
        parts.append(f"took {status.duration_s} s")
    if "non-ready MDTs" in status.values:
        parts.append(f"waiting for MDTs {status.values['non-ready MDTs']}")
    return status.status + (": " + ", ".join(parts) if parts else "")
