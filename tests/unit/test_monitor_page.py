"""`tandem page`: the renderer (every field, escaping, a cell that did not answer, a
phone's viewport) and the server over real HTTP on 127.0.0.1, on a site of recorded
nodes reached through the real fan-out (ClusterShell's exec worker), as in
test_monitor_pairs."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cells_status import build_site
from tandem.cli.main import build_parser, main
from tandem.cli.page_cmd import gatherer
from tandem.fleet.errors import FleetError
from tandem.monitor.page import Snapshot, Tile, content_policy, refresh_script, render
from tandem.monitor.pagesrv import Gatherer, PageServer, Refresher, serve

NODE = """[ -e {w}/down/$1 ] && {{ echo "ssh: connect to host $1 port 22: No route to host" >&2; \
exit 255; }}
case "$2" in *"tandem events"*) cat {w}/events/$1 ;; *) cat {w}/answers/$1 ;; esac
"""
EVENTS = [{"ts_ms": 1796662008000, "kind": "node_joined", "node": "n2", "service": None,
           "detail": "joined the cell", "data": {"secret": "never shown"}},
          {"ts_ms": 1796662010600, "kind": "service_started", "node": "n1",
           "service": "svc-n1", "detail": "started on n1"}]
NOW = 1796662100.0


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    build_site(tmp_path, 2)  # cells c001 (n1, n2) and c002 (n3, n4), recorded answers
    for name in ("down", "events"):
        (tmp_path / name).mkdir()
    for node in ("n1", "n2", "n3", "n4"):
        (tmp_path / "events" / node).write_text(json.dumps(EVENTS))
    (tmp_path / "node.sh").write_text(NODE.format(w=tmp_path))
    return tmp_path


def page_args(work: Path, *extra: str) -> list[str]:
    return ["page", *(extra or ("-a",)), "--from-dir", str(work / "cells"), "--fleet-config",
            str(work / "fleet.toml"), "--exec", f"sh {work}/node.sh %h %c"]


def gather_of(work: Path, clock: Clock) -> Gatherer:
    args = build_parser("page").parse_args(page_args(work))
    return dataclasses.replace(gatherer(args), clock=clock)


def tile(snapshot: Snapshot, name: str) -> Tile:
    return next(t for t in snapshot.tiles if t.cell.name == name)


# -- the renderer ---------------------------------------------------------------------------
def test_every_field_is_on_the_page(work: Path) -> None:
    snapshot = gather_of(work, Clock())(None)
    html = render(snapshot, NOW + 3, refresh_s=5)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media (max-width:40rem){.tiles{grid-template-columns:1fr" in html
    assert f"<script>{refresh_script(5)}</script>" in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert "src=" not in html and "href=" not in html and "://" not in html  # no asset
    assert 'data-cell="c001" data-state="OK" data-answered="true"' in html
    assert "2 pairs: 2 OK" in html and "data of " in html and "(3 s ago, read in" in html
    assert '<tr data-node="n1" data-state="online" data-reach="in sync">' in html
    assert '<p class="quorum" data-quorate="true"><b>quorate</b> · 2/2 votes (needs 1) · ' \
           'coordinator n1 · seen by n1</p>' in html
    assert ('<tr data-service="svc-n1" data-owner="n1" data-migrated="false"><td>svc-n1</td>'
            '<td>started</td><td>n1</td><td>n1</td><td>at home</td></tr>') in html
    assert '<tr data-fence="bmc" data-state="ok"><td>n2</td><td>1</td><td>bmc</td>' \
           '<td>reachable</td>' in html
    assert '<li data-kind="node_joined">' in html and "+2.6 s" in html
    assert "started on n1" in html and "never shown" not in html
    data = snapshot.to_json(NOW)
    assert [c["name"] for c in data["cells"]] == ["c001", "c002"]
    assert data["cells"][0]["seen"]["events"][0] == {k: EVENTS[0][k] for k in
                                                     ("ts_ms", "kind", "node", "service",
                                                      "detail")}


def test_everything_is_escaped(work: Path) -> None:
    snapshot = gather_of(work, Clock())(None)
    evil = "<script>alert('x')</script>&\""
    first = snapshot.tiles[0]
    assert first.seen is not None
    status = dataclasses.replace(first.seen.status, coordinator=evil, manual_fence_pending=(
        evil,))
    seen = dataclasses.replace(first.seen, status=status, events=({
        "ts_ms": 1, "kind": evil, "node": evil, "service": None, "detail": evil},))
    cell = dataclasses.replace(first.cell, name=evil, kind=evil)
    pair = dataclasses.replace(first.pair, word=evil, reasons=(evil,))
    hostile = dataclasses.replace(snapshot, word=evil, summary=evil, note=evil,
                                  tiles=(Tile(cell, pair, seen),))
    html = render(hostile, NOW, refresh_s=5, title=evil)
    assert "<script>alert" not in html and "'x'" not in html
    assert html.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;&quot;") >= 10
    assert html.count("<script>") == 1  # ours, allowed by the policy's hash alone
    assert "'sha256-" in content_policy(5) and "unsafe-inline'; connect" in content_policy(5)


def test_a_cell_that_did_not_answer_keeps_its_last_data_with_its_age(work: Path) -> None:
    clock = Clock()
    gather = gather_of(work, clock)
    first = gather(None)
    for node in ("n1", "n2"):
        (work / "down" / node).touch()
    clock.now += 42
    second = gather(first)
    lost = tile(second, "c001")
    assert not lost.answered and lost.pair.word == "UNKNOWN"
    assert lost.seen is not None and lost.seen.at == NOW
    html = render(second, clock.now, refresh_s=5)
    assert "no member answered: last good data 42 s old (from n1)" in html
    assert '<tr data-node="n1" data-state="online" data-reach="unreachable">' in html
    assert second.to_json(clock.now)["cells"][0]["seen"]["age_s"] == 42
    never = render(gather(None), clock.now, refresh_s=5)
    assert "no member answered: no data yet" in never
    assert '<tr data-node="n2" data-state="?" data-reach="unreachable">' in never


def test_a_lost_node_and_a_migrated_service(work: Path) -> None:
    (work / "down" / "n1").touch()
    answer = work / "answers" / "n2"
    answer.write_text(answer.read_text().replace('"owner": "n1"', '"owner": "n2"')
                      .replace('"coordinator": "n1"', '"coordinator": "n2"')
                      .replace('"state": "online"', '"state": "fenced"', 1))
    snapshot = gather_of(work, Clock())(None)
    assert snapshot.word == "MIGRATED" and tile(snapshot, "c001").answered
    html = render(snapshot, NOW, refresh_s=5)
    assert '<tr data-node="n1" data-state="fenced" data-reach="unreachable">' in html
    assert '<tr data-service="svc-n1" data-owner="n2" data-migrated="true">' in html
    assert "c001 MIGRATED: svc-n1 on n2 (home n1), n1 unreachable" in html


def test_events_that_cannot_be_read_are_a_note(work: Path) -> None:
    (work / "events" / "n1").write_text("tandem: error: no daemon\n")
    seen = tile(gather_of(work, Clock())(None), "c001").seen
    assert seen is not None and seen.events == ()
    assert seen.events_note == "events not read: not a list of events"


# -- the server -----------------------------------------------------------------------------
@pytest.fixture()
def served(work: Path) -> Iterator[tuple[PageServer, Refresher]]:
    refresher = Refresher(gather_of(work, Clock(time.time())), 0.2)
    server = serve("127.0.0.1", 0, refresher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, refresher
    finally:
        refresher.stop()
        server.shutdown()
        server.server_close()


def get(server: PageServer, path: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}",
                                    timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_server_renders_the_last_snapshot(
        served: tuple[PageServer, Refresher]) -> None:
    server, refresher = served
    code, headers, body = get(server, "/")
    assert code == 200 and "waiting for the first answers from the cells" in body
    refresher.start()
    deadline = time.monotonic() + 10
    while refresher.snapshot is None and time.monotonic() < deadline:
        time.sleep(0.05)
    code, headers, body = get(server, "/")
    assert code == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Security-Policy"] == content_policy(0.2)
    assert 'data-cell="c002" data-state="OK"' in body
    code, headers, body = get(server, "/status.json")
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert [c["pair"]["state"] for c in json.loads(body)["cells"]] == ["OK", "OK"]
    assert get(server, "/nothing")[0] == 404


def test_a_slow_refresh_never_blocks_a_page_load(work: Path) -> None:
    gather = gather_of(work, Clock(time.time()))
    release = threading.Event()

    def slow(previous: Snapshot | None) -> Snapshot:
        if previous is not None:
            release.wait(10)
        return gather(previous)

    refresher = Refresher(slow, 0.05)
    refresher.refresh()
    server = serve("127.0.0.1", 0, refresher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    refresher.start()
    try:
        started = time.monotonic()
        code, _, body = get(server, "/")
        assert code == 200 and 'data-cell="c001"' in body
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        refresher.stop()
        server.shutdown()
        server.server_close()


def test_a_failed_refresh_keeps_the_data_and_says_why(work: Path) -> None:
    gather = gather_of(work, Clock())
    calls = []

    def flaky(previous: Snapshot | None) -> Snapshot:
        calls.append(previous)
        if len(calls) > 1:
            raise FleetError("the inventory is down")
        return gather(previous)

    refresher = Refresher(flaky, 1)
    first = refresher.refresh()
    second = refresher.refresh()
    assert second.tiles == first.tiles
    assert second.note == "the last refresh failed: the inventory is down"


# -- the command line -----------------------------------------------------------------------
def test_json_once_and_a_bad_selection(work: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*page_args(work), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "OK" and len(data["cells"]) == 2
    assert main(page_args(work, "-i", "nosuchnode")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tandem: error: ")
