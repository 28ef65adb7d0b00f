"""IPMI sessions kept open to the BMCs this node would fence.

A one-shot `ipmitool -I lanplus` spends most of its ~45 ms setting up an RMCP+ session
(capabilities, open session, RAKP 1-4, privilege) for a single request. `ipmitool shell`
sets the session up once and then answers each command with one request on it (~0.5 ms
against the lab's BMC). One such child per BMC, opened by the first status read (the
periodic device check does that 0.2 s after start) and kept alive with a status
read when idle, makes a fence one or two round trips.

It stays ipmitool, a child process in a group of its own, for the reasons given in
`tandem.fencing.ipmi`. A kept session may only make a fence faster, never make it
fail: a shell that cannot be opened, answers late or answers anything but the expected
line is killed and forgotten, and the caller then runs the command the one-shot way
(which also gives the precise error). ipmitool never re-establishes a session inside a
shell (after a BMC restart every command fails), hence "killed and opened again".
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import re
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tandem.common.errors import TandemError
from tandem.util.procrun import kill_group

log = logging.getLogger(__name__)

PROMPT = b"ipmitool> "
OPEN_S = 5.0  # a session set-up is ~30 ms; a BMC that has not answered in 5 s is away
ANSWER_S = 1.5  # backstop: inside the shell ipmitool gives up by itself after ~1 s
KEEPALIVE_S = 15.0  # BMCs commonly close a session idle for 60 s
REOPEN_PAUSE_S = 10.0  # after a failed open, one-shot only for this long
FORGET_S = 600.0  # a session nobody asked for in this long is closed (device removed)
MAX_OUTPUT = 64 * 1024


PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGKILL when the daemon dies. ipmitool's shell does
    not end when its input closes (it stays, using CPU), so a crashed daemon would leave
    it behind."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the daemon died before prctl took effect
        os._exit(1)


class ShellBroken(TandemError):
    """The shell died, answered late or could not be opened (internal: the caller then
    runs the command one-shot)."""


@dataclass(frozen=True)
class SessionKey:
    """What makes two commands share a session: the shell's command line (BMC, user,
    options) and the password it was opened with."""

    argv: tuple[str, ...]
    secret: str  # a digest of the password, so a new password opens a new session
    label: str = field(compare=False)  # user@address:port, for the log

    @classmethod
    def make(cls, argv: Sequence[str], password: str, label: str) -> SessionKey:
        digest = hashlib.sha256(password.encode()).hexdigest()[:16]
        return cls(tuple(argv), digest, label)


class IpmiShell:
    """One `ipmitool ... shell` child and its output stream."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.used = time.monotonic()

    @classmethod
    async def open(cls, argv: Sequence[str], env: Mapping[str, str],
                   limit_s: float = OPEN_S) -> IpmiShell:
        """Start the shell and wait for its first prompt (the session is open then)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=dict(env), start_new_session=True,
                limit=MAX_OUTPUT, preexec_fn=functools.partial(_die_with_parent, os.getpid()))
        except OSError as exc:
            raise ShellBroken(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        shell = cls(proc)
        try:
            await shell._prompt(limit_s)
        except BaseException:
            await shell.close()
            raise
        return shell

    async def command(self, line: str, limit_s: float = ANSWER_S) -> str:
        """Send one command; its output without the echoed command line."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            await self.proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ShellBroken(f"the shell is gone ({exc})") from exc
        text = await self._prompt(limit_s)
        self.used = time.monotonic()
        return "\n".join(ln for ln in text.splitlines() if ln.strip() != line)

    async def _prompt(self, limit_s: float) -> str:
        assert self.proc.stdout is not None
        try:
            data = await asyncio.wait_for(self.proc.stdout.readuntil(PROMPT), limit_s)
        except TimeoutError:
            raise ShellBroken(f"no answer within {limit_s:g} s") from None
        except asyncio.IncompleteReadError as exc:
            last = exc.partial.decode(errors="replace").strip().splitlines()
            raise ShellBroken(last[-1] if last else "the shell exited") from None
        except asyncio.LimitOverrunError:
            raise ShellBroken("an answer too long for a power command") from None
        return data[:-len(PROMPT)].decode(errors="replace")

    async def close(self) -> None:
        """Kill the shell's process group (the BMC times the session out by itself)."""
        await kill_group(self.proc)


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    shell: IpmiShell | None = None
    wanted: float = field(default_factory=time.monotonic)  # last asked for (not keepalive)
    reopen_after: float = 0.0
    env: dict[str, str] = field(default_factory=dict)  # the shell's (holds the password)


@dataclass
class SessionCounters:
    """How the kept sessions fared, for the log and the tests."""

    opened: int = 0
    failed_opens: int = 0
    broken: int = 0
    answered: int = 0


class IpmiSessions:
    """The kept sessions of one daemon, by BMC and credentials."""

    def __init__(self, *, keepalive_s: float = KEEPALIVE_S,
                 reopen_pause_s: float = REOPEN_PAUSE_S) -> None:
        self.keepalive_s = keepalive_s
        self.reopen_pause_s = reopen_pause_s
        self.counters = SessionCounters()
        self._entries: dict[SessionKey, _Entry] = {}

    def open_count(self) -> int:
        return sum(1 for e in self._entries.values() if e.shell is not None)

    async def run(self, key: SessionKey, env: Mapping[str, str], line: str,
                  expect: re.Pattern[str]) -> str | None:
        """`line`'s output if a kept session gave the expected answer; None when the
        caller must run the command the one-shot way (the session is closed then)."""
        entry = self._entries.setdefault(key, _Entry())
        entry.wanted, entry.env = time.monotonic(), dict(env)
        return await self._run(key, entry, line, expect)

    async def _run(self, key: SessionKey, entry: _Entry, line: str,
                   expect: re.Pattern[str]) -> str | None:
        async with entry.lock:
            try:
                shell = entry.shell or await self._open(key, entry)
                if shell is None:
                    return None
                output = await shell.command(line)
            except ShellBroken as exc:
                log.info("IPMI session to %s closed: %s", key.label, exc)
                await self._drop(entry)
                return None
            except BaseException:  # cancelled mid-command: the stream is out of step
                await self._drop(entry)
                raise
            if not expect.search(output):
                log.info("IPMI session to %s closed: %r answered %r", key.label, line,
                         output.strip()[-200:])
                await self._drop(entry)
                return None
            self.counters.answered += 1
            return output

    async def _open(self, key: SessionKey, entry: _Entry) -> IpmiShell | None:
        if time.monotonic() < entry.reopen_after:
            return None
        try:
            entry.shell = await IpmiShell.open(key.argv, entry.env)
        except ShellBroken as exc:
            self.counters.failed_opens += 1
            entry.reopen_after = time.monotonic() + self.reopen_pause_s
            log.info("no IPMI session to %s (%s): one-shot commands for %g s",
                     key.label, exc, self.reopen_pause_s)
            return None
        self.counters.opened += 1
        return entry.shell

    async def _drop(self, entry: _Entry, *, broken: bool = True) -> None:
        if entry.shell is not None:
            self.counters.broken += broken
            shell, entry.shell = entry.shell, None
            await shell.close()

    async def keep_alive(self, status: re.Pattern[str]) -> None:
        """Forever: read the power status on sessions idle for `keepalive_s` (a BMC
        would close them), close those nobody asked for in `FORGET_S`."""
        while True:
            await asyncio.sleep(self.keepalive_s / 3)
            await self.refresh(status)

    async def refresh(self, status: re.Pattern[str]) -> None:
        """One pass of `keep_alive`."""
        now = time.monotonic()
        for key, entry in list(self._entries.items()):
            if now - entry.wanted > FORGET_S:
                async with entry.lock:
                    await self._drop(entry, broken=False)
                del self._entries[key]
            elif entry.shell is not None and now - entry.shell.used >= self.keepalive_s:
                await self._run(key, entry, "chassis power status", status)

    async def close(self) -> None:
        """Close every session (the daemon stops)."""
        for entry in self._entries.values():
            with contextlib.suppress(Exception):
                await self._drop(entry, broken=False)
        self._entries.clear()
