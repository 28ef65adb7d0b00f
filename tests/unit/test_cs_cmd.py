"""`cs -c start|stop|status` with and without systemd: every failure one line, never a
traceback. systemd and tandemd are stand-in scripts here (what cs relies on: systemctl's
exit status and message, tandemd's exit); the daemon's own start under `cs` runs in
tests/lab/test_demo_failover.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tandem.cli import cs_cmd

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def no_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No tandemd answers (its socket does not exist); a bin directory first on PATH."""
    monkeypatch.setenv("TANDEM_SOCKET", str(tmp_path / "absent.sock"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return bin_dir


def script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def with_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, present: bool) -> None:
    directory = tmp_path / "run-systemd-system"
    if present:
        directory.mkdir()
    monkeypatch.setattr(cs_cmd, "SYSTEMD_DIR", str(directory))


def one_error_line(capsys: Capture) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_start_under_systemd_without_the_unit(no_daemon: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: Capture) -> None:
    with_systemd(monkeypatch, tmp_path, present=True)
    script(no_daemon, "systemctl", 'echo "Failed to start tandemd.service: Unit '
                                   'tandemd.service not found." >&2; exit 5')
    assert cs_cmd.cs_main(["-c", "start", "-w", "2"]) == 1
    assert one_error_line(capsys) == (
        "cs: error: systemctl start tandemd.service failed: Failed to start "
        "tandemd.service: Unit tandemd.service not found. (run `tandem install` first)")


def test_start_under_systemd_goes_through_systemctl(no_daemon: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: Capture) -> None:
    with_systemd(monkeypatch, tmp_path, present=True)
    calls = tmp_path / "calls"
    script(no_daemon, "systemctl", f'echo "$@" >> {calls}')
    assert cs_cmd.cs_main(["-c", "start", "-w", "0.5"]) == 1  # started, but never answers
    assert calls.read_text() == "start tandemd.service\n"
    assert "did not answer on" in one_error_line(capsys)


def test_start_without_systemd_reports_a_daemon_that_exits(
        no_daemon: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: Capture) -> None:
    with_systemd(monkeypatch, tmp_path, present=False)
    fake = script(no_daemon, "tandemd", "exit 2")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # none beside it
    assert cs_cmd.cs_main(["-c", "start", "-w", "5"]) == 1
    assert one_error_line(capsys) == ("cs: error: tandemd exited at once with status 2 "
                                      "(see /var/log/tandem/tandemd.log)")
    fake.unlink()
    assert cs_cmd.cs_main(["-c", "start", "-w", "5"]) == 1
    assert "tandemd is not installed" in one_error_line(capsys)


def test_stop_and_status_without_a_daemon(no_daemon: Path, capsys: Capture) -> None:
    assert cs_cmd.cs_main(["-c", "stop"]) == 0
    assert capsys.readouterr().out == "tandemd is not running\n"
    assert cs_cmd.cs_main(["-c", "status"]) == 3
    assert capsys.readouterr().out == "tandemd is not running\n"


def test_bad_arguments_print_usage(capsys: Capture) -> None:
    with pytest.raises(SystemExit) as stop:
        cs_cmd.cs_main(["-c", "restart"])
    assert stop.value.code == 2 and "usage: cs" in capsys.readouterr().err
