"""Run a helper process off the event loop with a hard deadline.

Everything slow that the daemon starts (resource agents, fence agents, mount, fsck)
goes through here (DESIGN.md safety rule 6): each command runs in a process group of
its own, and on timeout *or* cancellation of the awaiting task the whole group is
killed, so neither a stuck command nor the tools it started survive us.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tandem.common.errors import TandemError

REAP_TIMEOUT_S = 5.0


class CommandError(TandemError):
    """A command could not be run or did not finish; the message is one line."""


class CommandNotFound(CommandError):
    """The program does not exist or cannot be executed."""


class CommandTimeout(CommandError):
    """The command ran past its deadline; its whole process group was killed."""


@dataclass(frozen=True)
class CommandResult:
    """How a helper process ended."""

    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, limit: int = 200) -> str:
        """The most useful line of output for an error message."""
        for text in (self.stderr, self.stdout):
            lines = [line for line in text.strip().splitlines() if line.strip()]
            if lines:
                return one_line(lines[-1], limit)
        return f"exit status {self.returncode}"


async def run_command(argv: Sequence[str], *, timeout_s: float, stdin: bytes | None = None,
                      env: Mapping[str, str] | None = None,
                      cwd: str | None = None) -> CommandResult:
    """Run `argv`, feeding `stdin`; CommandTimeout (group killed) after `timeout_s`.

    Cancelling the caller kills the process group too, then lets the cancellation go on.
    """
    name = os.path.basename(argv[0])
    start = time.monotonic()
    try:
        proc = await _spawn(argv, stdin is not None, env, cwd)
    except OSError as exc:
        raise CommandNotFound(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    except TimeoutError:
        await kill_group(proc)
        raise CommandTimeout(f"{name} did not finish within {timeout_s:g} s "
                             f"(process group killed)") from None
    except BaseException:
        await kill_group(proc)
        raise
    return CommandResult(returncode=proc.returncode if proc.returncode is not None else -1,
                         stdout=out.decode(errors="replace"),
                         stderr=err.decode(errors="replace"),
                         duration_s=time.monotonic() - start)


async def _spawn(argv: Sequence[str], with_stdin: bool, env: Mapping[str, str] | None,
                 cwd: str | None) -> asyncio.subprocess.Process:
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if with_stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True))
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # Cancelled while starting: the child may already run (and have children of its
        # own); asyncio would kill only the child, so let the start finish, kill the group.
        with contextlib.suppress(Exception):
            await kill_group(await asyncio.wait_for(spawn, REAP_TIMEOUT_S))
        raise


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group led by `proc` and reap the leader (bounded)."""
    # Only while the leader is not known to be reaped: a reaped leader's id could be
    # reused by an unrelated process group.
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), REAP_TIMEOUT_S)


def one_line(text: str, limit: int = 200) -> str:
    """A single line of at most `limit` characters, for error messages."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."
