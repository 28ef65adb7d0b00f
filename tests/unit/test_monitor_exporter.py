"""`tandem exporter` over real HTTP on 127.0.0.1, asking a fake daemon that answers on a
Unix control socket as tandemd does; its output passes Debian's `promtool check metrics`.
It answers with scrape_success 0 while the daemon is absent or stuck, and keeps serving."""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tandem.cli.main import main
from tandem.common.errors import EXIT_USAGE
from tandem.monitor.exporter import Exporter, TandemCollector, serve

STATUS = json.loads((Path(__file__).parent / "data" / "status_before_dataclasses.json")
                    .read_text())["full"]
EVENTS = [{"seq": 1, "ts_ms": 10_000, "kind": "fence_done", "node": "node2",
           "service": None, "detail": "off", "duration_ms": 2000}]


class FakeDaemon(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers `status` and `events` like tandemd's control socket; `stuck` makes it
    read the request and never answer."""

    daemon_threads = True

    def __init__(self, path: str) -> None:
        self.requests: list[dict[str, Any]] = []
        self.stuck = threading.Event()
        super().__init__(path, _Handler)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(request)
        if request["cmd"] == "status":
            return {"ok": True, "result": STATUS}
        if request["cmd"] == "events":
            since = request["args"].get("since", 0)
            return {"ok": True, "result": {"last": len(EVENTS), "events": [
                e for e in EVENTS if e["seq"] > since]}}
        return {"ok": False, "error": f"unknown command {request['cmd']!r}"}


class _Handler(socketserver.StreamRequestHandler):
    server: FakeDaemon

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        if self.server.stuck.is_set():
            time.sleep(5)
            return
        self.wfile.write(json.dumps(self.server.answer(request)).encode() + b"\n")


@pytest.fixture
def sock(tmp_path: Path) -> str:
    return str(tmp_path / "tandemd.sock")


@pytest.fixture
def daemon(sock: str) -> Iterator[FakeDaemon]:
    server = FakeDaemon(sock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def exporter(sock: str) -> Iterator[Exporter]:
    running = serve("127.0.0.1", 0, TandemCollector(sock, timeout=0.5))
    yield running
    running.stop()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        assert answer.status == 200
        return str(answer.read().decode())


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    raise AssertionError(f"no sample {name}{labels}")


def promtool(text: str) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (./dev installs Debian's prometheus)")
        pytest.skip("promtool is missing (./dev installs Debian's prometheus)")
    checked = subprocess.run([tool, "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_metrics_over_http_pass_promtool(daemon: FakeDaemon, exporter: Exporter) -> None:
    text = scrape(exporter.port)
    promtool(text)
    assert sample(text, "ha_cluster_tandem_scrape_success") == 1
    assert sample(text, "ha_cluster_tandem_nodes", node="node2", node_id="2",
                  state="lost") == 1
    assert sample(text, "ha_cluster_tandem_fences_total", node="node2", result="ok") == 1
    # no sample carries a timestamp
    stamps = [s.timestamp for f in text_string_to_metric_families(text) for s in f.samples]
    assert len(stamps) > 100 and set(stamps) == {None}


def test_the_timeline_is_followed_not_read_again(daemon: FakeDaemon,
                                                 exporter: Exporter) -> None:
    scrape(exporter.port)
    text = scrape(exporter.port)
    sinces = [r["args"]["since"] for r in daemon.requests if r["cmd"] == "events"]
    assert sinces == [0, 1]
    assert sample(text, "ha_cluster_tandem_fences_total", node="node2", result="ok") == 1


def test_no_daemon_is_scrape_success_0_and_it_keeps_serving(sock: str,
                                                            exporter: Exporter) -> None:
    for _ in range(2):
        text = scrape(exporter.port)
        promtool(text)
        assert sample(text, "ha_cluster_tandem_scrape_success") == 0
        assert "ha_cluster_tandem_nodes" not in text
    server = FakeDaemon(sock)  # the daemon starts: the next scrape reads it
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert sample(scrape(exporter.port), "ha_cluster_tandem_scrape_success") == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_stuck_daemon_costs_one_timeout(daemon: FakeDaemon, exporter: Exporter) -> None:
    daemon.stuck.set()
    started = time.monotonic()
    text = scrape(exporter.port)
    assert time.monotonic() - started < 2.0  # timeout 0.5 s
    assert sample(text, "ha_cluster_tandem_scrape_success") == 0


@pytest.mark.parametrize("argv", [["--listen", "9664"], ["--listen", "127.0.0.1:x"],
                                  ["--listen", "127.0.0.1:70000"], ["--timeout", "0"],
                                  ["--bogus"]])
def test_bad_options_print_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["exporter", *argv])
    assert stopped.value.code == EXIT_USAGE
    assert "usage: tandem" in capsys.readouterr().err


def test_a_busy_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["exporter", "--listen", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tandem: error: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_it_runs_as_a_process_of_its_own(daemon: FakeDaemon, sock: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tandem", "exporter", "--listen",
                             f"127.0.0.1:{port}", "--socket", sock, "--timeout", "1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                text = scrape(port)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert sample(text, "ha_cluster_tandem_scrape_success") == 1
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert f"serving http://127.0.0.1:{port}/metrics" in err
