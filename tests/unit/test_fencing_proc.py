"""Fence helper processes: a deadline or a cancellation kills the whole process group."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path

import pytest

from tandem.fencing import FenceAgentError, FenceTimeout
from tandem.fencing.proc import one_line, run_command
from tandem.lab.wait import WaitTimeout, wait_for

# A helper that starts a grandchild, records its pid, then hangs.
HANGS = 'sleep 300 & echo $! > "$1"; cat > /dev/null; wait'


def ended(pid: int) -> bool:
    """Whether `pid` has disappeared (or is a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


def gone(pid: int, within_s: float = 10.0) -> bool:
    """Whether `pid` has disappeared (or is a zombie) within `within_s`."""
    try:
        return wait_for(lambda: ended(pid), within_s, f"pid {pid} to end", interval=0.02)
    except WaitTimeout:
        return False


def read_pid(path: Path) -> int:
    for _ in range(500):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.01)
    raise AssertionError("helper did not start")


def test_output_exit_code_and_stdin() -> None:
    result = asyncio.run(run_command(["sh", "-c", "cat; echo err >&2; exit 3"],
                                     stdin=b"action=off\n", timeout_s=10))
    assert (result.returncode, result.stdout, result.stderr) == (3, "action=off\n", "err\n")


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with pytest.raises(FenceTimeout, match=r"within 0\.5 s"):
        asyncio.run(run_command(["sh", "-c", HANGS, "sh", str(pidfile)], stdin=b"",
                                timeout_s=0.5))
    assert gone(read_pid(pidfile))


def test_cancellation_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def go() -> None:
        task = asyncio.create_task(run_command(["sh", "-c", HANGS, "sh", str(pidfile)],
                                               stdin=b"", timeout_s=300))
        while not pidfile.exists() or not pidfile.read_text().strip():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(go(), 60))
    assert gone(read_pid(pidfile))


def survivors(token: str) -> list[int]:
    """Live processes whose command line contains `token`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if token in (proc / "cmdline").read_text() and not gone(int(proc.name), 0.5):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


@pytest.mark.parametrize("yields", [0, 1, 2, 5, 20])
def test_cancellation_while_starting_leaves_nothing(yields: int) -> None:
    token = f"300.{secrets.randbelow(10**6):06d}"

    async def go() -> None:
        task = asyncio.create_task(run_command(
            ["sh", "-c", f"sleep {token} & wait"], timeout_s=300))
        for _ in range(yields):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(go(), 60))
    assert survivors(token) == []


def test_missing_program_is_an_agent_error(tmp_path: Path) -> None:
    with pytest.raises(FenceAgentError, match="cannot run"):
        asyncio.run(run_command([str(tmp_path / "fence_none")], timeout_s=5))


def test_environment_is_passed() -> None:
    result = asyncio.run(run_command(["sh", "-c", 'printf %s "$SECRET"'],
                                     env={**os.environ, "SECRET": "s3"}, timeout_s=10))
    assert result.stdout == "s3"


def test_one_line() -> None:
    assert one_line("a\n  b\tc\n") == "a b c"
    assert one_line("x" * 300, limit=10) == "xxxxxxx..."
