"""Checks over the daemons' persisted timelines: reading a file cut short by a power
loss, and safety rule 2 (no fence while inquorate), which must start afresh at every
daemon start since the file keeps every run of the daemon."""

from __future__ import annotations

import json
from typing import Any

from tandem.lab.timeline import fence_starts, inquorate_fences, parse_events


def event(ts_ms: int, kind: str, node: str | None = None, **data: Any) -> dict[str, Any]:
    return {"ts_ms": ts_ms, "kind": kind, "node": node, "detail": "", "data": data}


BOOT = event(1, "daemon_start", "node1")
QUORATE = event(2, "quorum", "node1", quorate=True)
INQUORATE = event(3, "quorum", "node1", quorate=False)
FENCE = event(4, "fence_start", "node2")


def test_a_fence_while_quorate_is_fine() -> None:
    assert inquorate_fences([BOOT, QUORATE, FENCE], "node1") == []


def test_a_fence_after_quorum_loss_is_found() -> None:
    assert inquorate_fences([BOOT, QUORATE, INQUORATE, FENCE], "node1") == [
        "node1 started fencing node2 while inquorate (at 4 ms)"]


def test_a_restarted_daemon_is_inquorate_until_it_says_otherwise() -> None:
    """The previous run ended quorate; the new run fences before any quorum event."""
    reboot = event(10, "daemon_start", "node1")
    early = event(11, "fence_start", "node2")
    found = inquorate_fences([BOOT, QUORATE, reboot, early], "node1")
    assert found == ["node1 started fencing node2 while inquorate (at 11 ms)"]


def test_a_file_cut_short_by_a_power_loss_is_read_up_to_the_cut() -> None:
    lines = [json.dumps(BOOT), "", json.dumps(QUORATE), json.dumps(FENCE)[:20]]
    assert parse_events(lines) == [BOOT, QUORATE]


def test_fence_targets() -> None:
    other = event(5_000, "fence_start", "node3")
    assert fence_starts([BOOT, FENCE, QUORATE, other]) == ["node2", "node3"]
