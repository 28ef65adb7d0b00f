"""`tandem exporter`: serves the daemon's status as Prometheus metrics over HTTP.

It is a process of its own that asks the daemon's control socket, on each scrape and with
a short timeout, for `status` and for the `events` it has not read yet: a stuck client,
a slow scraper or a crash here can never reach the engine. When the daemon does not
answer, the scrape still succeeds with `ha_cluster_tandem_scrape_success 0` (and the
totals kept from the timeline), and the exporter goes on serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric

from tandem.cli.client import call
from tandem.common.errors import TandemError
from tandem.common.status import CellStatus
from tandem.monitor.metrics import EventTotals, scrape_families, status_families

log = logging.getLogger("tandem.exporter")

DEFAULT_PORT = 9664  # ha_cluster_exporter's port: a tandem node runs no Pacemaker
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
DEFAULT_TIMEOUT = 3.0

# call(command, args, timeout=, path=) -> the daemon's answer (tests pass a fake).
Caller = Callable[..., Any]


class ExporterError(TandemError):
    """The exporter cannot start (its address cannot be bound)."""


class TandemCollector:
    """Asks the daemon on every scrape; one scrape at a time (the timeline cursor and
    totals are shared)."""

    def __init__(self, socket_path: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 caller: Caller = call) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self._call = caller
        self._lock = threading.Lock()
        self.totals = EventTotals()
        self._answered: bool | None = None  # logged on change only, not every scrape

    def describe(self) -> list[Metric]:
        """Nothing: registering must not ask the daemon (names are checked by promtool)."""
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            started = time.monotonic()
            families: list[Metric] = []
            status: CellStatus | None = None
            try:
                status = CellStatus.from_json(self._ask("status"), "tandemd status")
                families = status_families(status)
                local = status.node(status.local)
                self.totals.daemon_seen(local.incarnation if local else None)
                self.totals.follow(self._ask("events", {"since": self.totals.cursor}))
                error = None
            except TandemError as exc:
                error = str(exc)
            self._note(error)
            yield from families
            yield from self.totals.families(status)
            yield from scrape_families(error is None, time.monotonic() - started)

    def _ask(self, command: str, args: dict[str, Any] | None = None) -> Any:
        return self._call(command, args, timeout=self.timeout, path=self.socket_path)

    def _note(self, error: str | None) -> None:
        answered = error is None
        if answered != self._answered:
            if error:
                log.warning("scrape failed: %s", error)
            else:
                log.info("tandemd answers")
        self._answered = answered


@dataclass
class Exporter:
    """A running exporter: its HTTP server and the thread serving it."""

    server: WSGIServer
    thread: threading.Thread
    collector: TandemCollector

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(host: str, port: int, collector: TandemCollector) -> Exporter:
    """Start serving /metrics (any path answers) on host:port in a daemon thread; port 0
    picks a free one. ExporterError if the address cannot be bound."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ExporterError(f"cannot listen on {host}:{port}: "
                            f"{exc.strerror or exc}") from None
    return Exporter(server, thread, collector)
