"""tandemd's talk with systemd (sd_notify over a real datagram socket) and its logs:
syslog with the configured facility and identifier (to a real Unix datagram socket, as
/dev/log is), the log file reopened after logrotate moved it."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.daemon.logsetup import SyslogTarget, reopen_files, setup_logging
from tandem.daemon.main import parse_args, syslog_target
from tandem.daemon.sdnotify import SystemdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket such as systemd's notify socket or syslog's /dev/log."""
    path = str(tmp_path / "sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    found = []
    sock.settimeout(0.2)
    try:
        while True:
            found.append(sock.recv(4096).decode())
    except TimeoutError:
        return found


def test_ready_status_stopping_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    notifier.ready("node node1 of cluster c: joining the cell")
    notifier.stopping()
    assert received(sock) == ["READY=1\nSTATUS=node node1 of cluster c: joining the cell",
                              "STOPPING=1\nSTATUS=leaving the cell"]


def test_the_watchdog_is_fed_twice_per_interval(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    now = [100.0]
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = SystemdNotifier(env, clock=lambda: now[0])
    for step in range(40):  # 20 s of cycles every 0.5 s
        now[0] = 100.0 + step * 0.5
        notifier.feed()
    assert received(sock) == ["WATCHDOG=1"] * 4  # at 0, 5, 10 and 15 s
    other = SystemdNotifier({**env, "WATCHDOG_PID": "1"}, clock=lambda: now[0])
    other.feed()  # the watchdog is another process's
    assert received(sock) == []


def test_without_systemd_nothing_is_sent(tmp_path: Path) -> None:
    assert not SystemdNotifier({}).send("READY=1")
    broken = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "absent")})
    assert not broken.send("READY=1")
    assert not broken.send("READY=1")  # logged once, then quiet


def test_syslog_lines_carry_facility_and_identifier(
        listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    setup_logging(None, syslog=SyslogTarget(facility="local3", ident="ha", address=path))
    try:
        logging.getLogger("tandemd").warning("node2 lost")
        line = sock.recv(4096).decode()
    finally:
        setup_logging(None)
    # <PRI> = facility local3 (19) * 8 + warning (4)
    assert line == f"<156>ha[{os.getpid()}]: WARNING node2 lost\x00"


def test_the_log_file_is_reopened_after_rotation(tmp_path: Path) -> None:
    log_file = tmp_path / "ha.log"
    setup_logging(str(log_file))
    try:
        logging.getLogger("tandemd").warning("before")
        log_file.rename(tmp_path / "ha.log.1")  # what logrotate does
        assert reopen_files() == 1  # SIGHUP
        logging.getLogger("tandemd").warning("after")
    finally:
        setup_logging(None)
    assert "before" in (tmp_path / "ha.log.1").read_text()
    assert "after" in log_file.read_text() and "before" not in log_file.read_text()


def test_tandemd_syslog_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tandem.daemon.main.SYSLOG_SOCKET", str(tmp_path / "log"))
    assert syslog_target(parse_args([])) is None  # auto, and no syslog socket here
    (tmp_path / "log").touch()
    assert syslog_target(parse_args([])) == SyslogTarget("daemon", "tandemd")
    assert syslog_target(parse_args(["--syslog", "local5", "--syslog-ident", "ha"])) == \
        SyslogTarget("local5", "ha")
    assert syslog_target(parse_args(["--syslog", "none"])) is None
    with pytest.raises(SystemExit):
        parse_args(["--syslog", "local9"])
