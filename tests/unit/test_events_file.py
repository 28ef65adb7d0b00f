"""The persisted timeline: each event is in the file as soon as it is added (a node that
loses power keeps what it recorded), a rotated file is followed, and an unwritable file
never stops the daemon."""

from __future__ import annotations

import json
from pathlib import Path

from tandem.common.events import EventKind
from tandem.daemon.events import EventLog


def test_each_event_reaches_the_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.add(EventKind.DAEMON_START, node="n1", detail="one")
    log.add(EventKind.QUORUM, node="n1", detail="two", quorate=True)
    lines = [json.loads(line) for line in path.read_text().splitlines()]  # still open
    assert [e["detail"] for e in lines] == ["one", "two"]
    assert lines[1]["data"]["quorate"] is True
    log.close()
    log.add(EventKind.DAEMON_STOP, node="n1", detail="three")  # a late event reopens the file
    assert len(path.read_text().splitlines()) == 3


def test_unwritable_file_is_reported_once_and_ignored(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "missing-dir" / "events.jsonl")
    for n in range(3):
        log.add(EventKind.NODE, detail=str(n))
    assert [e.detail for _, e in log.since(0)] == ["0", "1", "2"]


def test_a_rotated_file_is_followed_by_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.add(EventKind.NODE, detail="before")
    path.rename(tmp_path / "events.jsonl.1")  # what logrotate does (create mode)
    log.add(EventKind.NODE, detail="after")
    assert (tmp_path / "events.jsonl.1").read_text().count("\n") == 1
    assert [json.loads(line)["detail"] for line in path.read_text().splitlines()] == ["after"]
    path.unlink()  # removed outright
    log.add(EventKind.NODE, detail="again")
    assert [json.loads(line)["detail"] for line in path.read_text().splitlines()] == ["again"]
    log.close()
