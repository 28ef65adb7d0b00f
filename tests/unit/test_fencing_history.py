"""Fence history: bounded, JSON round trip, atomic save, clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tandem.fencing import FenceAttempt, FenceHistory, FenceHistoryError


def attempt(node: str = "node1", action: str = "off", outcome: str = "ok",
            started_at: float = 1000.0, error: str | None = None) -> FenceAttempt:
    return FenceAttempt(node=node, level=1, device="bmc", action=action, outcome=outcome,
                        duration_ms=250, started_at=started_at, error=error)


def test_bounded_oldest_dropped() -> None:
    history = FenceHistory(maxlen=3)
    for i in range(5):
        history.append(attempt(started_at=float(i)))
    assert len(history) == 3
    assert [a.started_at for a in history.attempts()] == [2.0, 3.0, 4.0]


def test_filter_by_node_and_last_confirmation() -> None:
    history = FenceHistory()
    history.append(attempt("node1", "verify", "ok", started_at=10.0))
    history.append(attempt("node2", "verify", "ok", started_at=20.0))
    history.append(attempt("node1", "verify", "timeout", started_at=30.0, error="still on"))
    assert [a.node for a in history.attempts("node1")] == ["node1", "node1"]
    assert history.last_confirmed_off("node1") == pytest.approx(10.25)
    assert history.last_confirmed_off("node3") is None


def test_json_round_trip_and_file(tmp_path: Path) -> None:
    history = FenceHistory()
    history.append(attempt())
    history.append(attempt(action="verify", outcome="auth", error="BMC refused user 'admin'"))
    document = json.loads(history.to_json())
    assert document["version"] == 1 and len(document["attempts"]) == 2
    path = tmp_path / "fence-history.json"
    history.save(path)
    loaded = FenceHistory.load(path)
    assert loaded.attempts() == history.attempts()
    assert [p.name for p in tmp_path.iterdir()] == ["fence-history.json"]  # no temp left


def test_missing_file_is_an_empty_history(tmp_path: Path) -> None:
    assert len(FenceHistory.load(tmp_path / "none.json")) == 0


@pytest.mark.parametrize("text", [
    "not json",
    '{"version": 2, "attempts": []}',
    '{"version": 1}',
    '{"version": 1, "attempts": [{"node": "n"}]}',
    '{"version": 1, "attempts": [{"node": "n", "level": "one", "device": "d", '
    '"action": "off", "outcome": "ok", "duration_ms": 1, "started_at": 1.0}]}',
])
def test_malformed_file_names_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "h.json"
    path.write_text(text)
    with pytest.raises(FenceHistoryError, match=str(path)):
        FenceHistory.load(path)


def test_load_keeps_the_bound(tmp_path: Path) -> None:
    history = FenceHistory()
    for i in range(10):
        history.append(attempt(started_at=float(i)))
    path = tmp_path / "h.json"
    history.save(path)
    assert len(FenceHistory.load(path, maxlen=4)) == 4
