"""`clustat` and `clusvcadm` as RHEL 5 administrators type them, through their real
entry points against a fake control socket that answers like tandemd."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.cli import compat

DOC = json.loads((Path(__file__).parent / "data" / "status_before_dataclasses.json")
                 .read_text())["full"]


class FakeDaemon:
    """Answers `status` with `doc` and records every other request."""

    def __init__(self, path: Path, doc: dict[str, Any]) -> None:
        self.doc, self.status_calls = doc, 0
        self.requests: list[dict[str, Any]] = []
        self.on_status: Any = None
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = json.loads(conn.makefile().readline())
                if request["cmd"] == "status":
                    self.status_calls += 1
                    result: Any = self.doc
                    if self.on_status:
                        self.on_status(self.status_calls)
                else:
                    self.requests.append(request)
                    result = f"{request['args']['action']} requested"
                conn.sendall(json.dumps({"ok": True, "result": result}).encode() + b"\n")


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    path = tmp_path / "tandemd.sock"
    monkeypatch.setenv("TANDEM_SOCKET", str(path))
    doc = json.loads(json.dumps(DOC))
    doc["services"][1]["state"] = "stopped"  # db: stopped, last on node2
    doc["services"][1]["last_owner"] = "node2"
    fake = FakeDaemon(path, doc)
    yield fake
    fake.sock.close()


def test_default_layout_is_rhel5_column_for_column(daemon: FakeDaemon,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Widths of rgmanager's clustat.c at 80 columns (not a tty): members 40 + ID 4,
    services 30/30/14, "service:" prefix, last owner in parentheses when stopped."""
    assert compat.clustat_main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Cluster Status for io1 @ ")
    assert time.strptime(lines[0].split(" @ ")[1], "%a %b %d %H:%M:%S %Y")
    assert lines[1:3] == ["Member Status: Quorate", ""]
    assert lines[3] == " " + "Member Name".ljust(40) + "ID   Status"
    assert lines[4] == " " + "------ ----".ljust(40) + "---- ------"
    assert lines[5] == " " + "node1".ljust(40) + "    1 Online, Local, rgmanager"
    assert lines[6] == " " + "node2".ljust(40) + "    2 Offline"
    assert lines[7].endswith("    0 Online, Quorum Disk")
    assert lines[8] == ""
    services = lines[9:]
    assert services[0] == " " + "Service Name".ljust(30) + " " + "Owner (Last)".ljust(30) \
        + " " + "State".ljust(14)
    assert services[2] == " " + "service:web".ljust(30) + " " + "node1".ljust(30) + " " \
        + "started".ljust(14)
    assert services[3] == " " + "service:db".ljust(30) + " " + "(node2)".ljust(30) + " " \
        + "stopped".ljust(14)
    # what a RHEL 5 site script does with it
    assert [line.split()[:3] for line in services[2:]] == [
        ["service:web", "node1", "started"], ["service:db", "(node2)", "stopped"]]


def test_service_and_member_filters_exit_like_rgmanager(
        daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert compat.clustat_main(["-s", "web"]) == 0
    out = capsys.readouterr().out
    assert "service:web" in out and "service:db" not in out and "Member Name" not in out
    assert compat.clustat_main(["-s", "service:db"]) == 110  # RG_STATE_STOPPED
    assert compat.clustat_main(["-s", "nothing"]) == 255
    assert compat.clustat_main(["-m", "node2"]) == 1  # offline
    assert "node1" not in capsys.readouterr().out.replace("service", "")


def test_long_version_fast_node_id_and_the_tandem_layout(
        daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    assert compat.clustat_main(["-l"]) == 0
    out = capsys.readouterr().out
    assert "Service Information\n------- -----------\n\n" in out
    assert "Service Name      : service:web\n  Current State   : started (112)\n" \
           "  Owner           : node1\n  Last Owner      : node2\n  Last Transition : " in out
    assert compat.clustat_main(["-v"]) == 0
    assert capsys.readouterr().out.startswith("clustat version ")
    assert compat.clustat_main(["-f", "-I"]) == 0
    assert capsys.readouterr().out == "0x00000001\n"
    assert compat.clustat_main(["--tandem"]) == 0
    assert "Online, Local, Coordinator" in capsys.readouterr().out
    assert compat.clustat_main(["-i", "1", "-x"]) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interval_redraws_until_a_signal(daemon: FakeDaemon, sig: signal.Signals,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """-i redraws at its interval; SIGTERM or Ctrl-C ends it cleanly after the draw
    (exit 0, handlers restored), not with a traceback."""
    before = signal.getsignal(sig)
    def on_status(calls: int) -> None:
        if calls == 3:
            os.kill(os.getpid(), sig)

    daemon.on_status = on_status
    started = time.monotonic()
    assert compat.clustat_main(["-i", "0.2"]) == 0
    took = time.monotonic() - started
    assert daemon.status_calls == 3 and 0.4 <= took < 2.0
    assert capsys.readouterr().out.count("Member Status: Quorate") == 3
    assert signal.getsignal(sig) == before


def test_clusvcadm_requests(daemon: FakeDaemon, capsys: pytest.CaptureFixture[str]) -> None:
    """-s is a stop that keeps it enabled, -M a relocation, -l/-u the cell's lock, -e
    starts it where clusvcadm runs unless -F; -q prints nothing."""
    daemon.doc["services"][1]["state"] = "stopped"
    assert compat.clusvcadm_main(["-s", "db", "-w", "1"]) == 0
    assert compat.clusvcadm_main(["-l"]) == 0
    assert compat.clusvcadm_main(["-u", "-q"]) == 0
    assert compat.clusvcadm_main(["-M", "web", "-m", "node1", "-w", "1"]) == 0
    assert compat.clusvcadm_main(["-e", "web", "-q", "-w", "1"]) == 0
    assert compat.clusvcadm_main(["-e", "web", "-F", "-w", "1"]) == 0
    asked = [(r["args"]["action"], r["args"]["service"] or None, r["args"]["node"])
             for r in daemon.requests]
    assert asked == [("stop", "db", None), ("lock", None, None), ("unlock", None, None),
                     ("relocate", "web", "node1"), ("enable", "web", "node1"),
                     ("enable", "web", None)]
    out = capsys.readouterr()
    assert "lock requested" in out.out and "unlock requested" not in out.out
    assert compat.clusvcadm_main(["-S"]) == 0
    assert capsys.readouterr().out == "Resource groups unlocked\n"
    daemon.doc["locked"] = True
    assert compat.clusvcadm_main(["-S"]) == 0
    assert capsys.readouterr().out == "Resource groups locked\n"
    with pytest.raises(SystemExit):
        compat.clusvcadm_main(["-d", "web", "-F"])
    assert "-M" in compat_help()


def compat_help() -> str:
    text = io.StringIO()
    with contextlib.redirect_stdout(text), pytest.raises(SystemExit):
        compat.clusvcadm_main(["-h"])
    assert "no live migration" in text.getvalue()
    return text.getvalue()
