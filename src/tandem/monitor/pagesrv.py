"""Serving the status page (`tandem page`): a thread that refreshes the data every
interval, and an HTTP server that only renders the last snapshot.

A refresh is `tandem cells status` (tandem.fleet.operations.Fleet.status, the same
fan-out, verdicts and record of where services run) with the nodes' answers kept: the
fleet's verdicts reduce each status document to what the table needs, the page wants
the whole of one member's (quorum, members, fence devices), so the transport is wrapped
to remember them. Then one more fan-out asks that member of each cell for its last
events. A slow or dead cell delays only the next snapshot, never a page load: the
handler renders what is there, with its age.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tandem.common.errors import TandemError
from tandem.common.status import CellStatus
from tandem.fleet import remote
from tandem.fleet.operations import Fleet
from tandem.fleet.report import CellOutcome, Outcome
from tandem.fleet.settings import FleetSettings
from tandem.fleet.source import CellSource, Selection
from tandem.fleet.transport import Done, Job, NodeResult, Transport
from tandem.monitor.page import EVENT_KEYS, Seen, Snapshot, Tile, content_policy, render
from tandem.monitor.pairs import pair_status, pairs_result

log = logging.getLogger("tandem.page")

DEFAULT_LISTEN = "127.0.0.1:9665"  # beside the exporter's 9664
EVENTS = "tandem events --json --last {n}"


class PageError(TandemError):
    """The page cannot be served (its address cannot be bound)."""


class Recorder:
    """A transport that remembers every node's address and whole answer."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.addresses: dict[str, str] = {}
        self.results: dict[str, NodeResult] = {}

    def run(self, jobs: Sequence[Job], done: Done | None = None) -> dict[str, NodeResult]:
        for job in jobs:
            self.addresses.update(job.nodes)
        results = self.inner.run(jobs, done)
        self.results.update(results)
        return results


@dataclass
class Gatherer:
    """One refresh over the selected cells; called with the previous snapshot, whose
    data it keeps for the cells that no longer answer."""

    source: Callable[[], CellSource]
    transport: Transport
    settings: FleetSettings
    selection: Selection
    timeout: float | None = None
    events: int = 8
    clock: Callable[[], float] = time.time

    def __call__(self, previous: Snapshot | None) -> Snapshot:
        started, now = time.monotonic(), self.clock()
        recorder = Recorder(self.transport)
        fleet = Fleet(self.source(), recorder, self.settings, timeout=self.timeout)
        outcome = fleet.status(self.selection)
        seen = {cell.name: _seen(cell, recorder.results[cell.seen_by], now)
                for cell in outcome.cells if cell.seen_by is not None}
        seen = self._with_events(seen, recorder)
        last = {t.cell.name: t.seen for t in previous.tiles} if previous else {}
        tiles = tuple(Tile(cell, pair_status(cell), seen.get(cell.name) or last.get(cell.name))
                      for cell in outcome.cells)
        return _snapshot(outcome, tiles, self.clock(), time.monotonic() - started)

    def _with_events(self, seen: dict[str, Seen | None],
                     recorder: Recorder) -> dict[str, Seen | None]:
        """`seen` with each cell's last events, asked of the member that described it."""
        asked = {s.by: (name, s) for name, s in seen.items() if s is not None}
        if not asked or self.events <= 0:
            return seen
        line = remote.on_path(EVENTS.format(n=self.events), self.settings.remote_path)
        job = Job({node: recorder.addresses.get(node, node) for node in asked}, line, None,
                  self.timeout or 10.0)
        results = self.transport.run([job])
        for node, (cell, described) in asked.items():
            events, note = read_events(results.get(node))
            seen[cell] = replace(described, events=events, events_note=note)
        return seen


def _seen(cell: CellOutcome, result: NodeResult, now: float) -> Seen | None:
    """The whole status the fleet read from the member that described `cell`."""
    try:
        document = json.loads(remote.read_tagged(result.stdout).rest)
        status = CellStatus.from_json(document, f"status of {result.node}")
    except (ValueError, TandemError):
        return None  # the fleet's verdict already read it: not expected
    return Seen(result.node, now, status, cell.services)


def read_events(result: NodeResult | None) -> tuple[tuple[dict[str, Any], ...], str]:
    """The events a node answered (only the keys the page shows), or why none."""
    if result is None or result.rc != 0:
        return (), f"events not read: {result.reason if result else 'not asked'}"
    try:
        loaded = json.loads(result.stdout)
        events = tuple({k: e.get(k) for k in EVENT_KEYS} for e in loaded)
    except (ValueError, TypeError, AttributeError):
        return (), "events not read: not a list of events"
    return events, ""


def _snapshot(outcome: Outcome, tiles: tuple[Tile, ...], now: float,
              took: float) -> Snapshot:
    result = pairs_result(outcome)
    return Snapshot(now, took, result.word, result.text, tiles, outcome.record_error)


class Refresher:
    """Keeps the last snapshot, refreshed every `interval` seconds by a thread of its
    own; a refresh that fails keeps the previous data and says why."""

    def __init__(self, gather: Callable[[Snapshot | None], Snapshot], interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.gather = gather
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def snapshot(self) -> Snapshot | None:
        with self._lock:
            return self._snapshot

    def refresh(self) -> Snapshot:
        previous = self.snapshot
        try:
            fresh = self.gather(previous)
        except Exception as exc:  # a monitoring page outlives one bad round
            if not isinstance(exc, TandemError):
                log.exception("refresh failed")
            fresh = _failed(previous, f"the last refresh failed: {exc}", self.clock())
        with self._lock:
            self._snapshot = fresh
        return fresh

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tandem-page-refresh",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.refresh()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


def _failed(previous: Snapshot | None, note: str, now: float) -> Snapshot:
    if previous is None:
        return Snapshot(now, 0.0, "UNKNOWN", "no data", (), note)
    return replace(previous, note=note)


class PageServer(ThreadingHTTPServer):
    """The HTTP server: `/` the page, `/status.json` the same data."""

    daemon_threads = True

    def __init__(self, host: str, port: int, refresher: Refresher, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.refresher = refresher
        self.clock = clock
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of `path`."""
        snapshot, now = self.refresher.snapshot, self.clock()
        if path == "/":
            page = render(snapshot, now, refresh_s=self.refresher.interval)
            return 200, "text/html; charset=utf-8", page.encode()
        if path == "/status.json":
            data: Mapping[str, Any] = snapshot.to_json(now) if snapshot else {"cells": None}
            return 200, "application/json", (json.dumps(data, indent=1) + "\n").encode()
        return 404, "text/plain; charset=utf-8", b"not found: / or /status.json\n"


class _Handler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "tandem-page"

    def do_GET(self) -> None:
        code, kind, body = self.server.answer(urlsplit(self.path).path)
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         content_policy(self.server.refresher.interval))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a page refreshed every few seconds would fill the log."""


def serve(host: str, port: int, refresher: Refresher) -> PageServer:
    """A bound server (port 0 picks a free one); PageError if it cannot bind."""
    try:
        return PageServer(host, port, refresher)
    except OSError as exc:
        raise PageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
