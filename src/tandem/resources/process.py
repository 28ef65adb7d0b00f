"""`process`: run and supervise a command line as a service, for daemons that have no
init script. The process runs in a session of its own; its pid and start time are kept
in a pid file, so a recycled pid is never mistaken for it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from tandem.resources.base import (
    AgentResult,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    failure,
    not_running,
    success,
)
from tandem.resources.registry import register
from tandem.util.daemonize import spawn_detached

PID_DIR = "/run/tandem/process"
LOG_DIR = "/var/log/tandem"
EARLY_EXIT_CHECK_S = 0.05


def start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[19])


@register
class ProcessAgent(ResourceAgent):
    """A supervised command line."""

    name = "process"
    summary = "run and supervise a command line (daemons without an init script)"
    params = (
        ParamSpec("command", "list", required=True, description="argv, e.g. [\"httpd\", \"-f\"]"),
        ParamSpec("cwd", "string", default="/", description="working directory"),
        ParamSpec("user", "string", default="", description="run as this user"),
        ParamSpec("env", "table", default={}, description="extra environment variables"),
        ParamSpec("stop_timeout_s", "float", default=10.0,
                  description="SIGTERM, then SIGKILL after this long"),
        ParamSpec("pidfile", "string", default="",
                  description=f"default {PID_DIR}/RESOURCE.pid"),
    )
    timeouts = Timeouts(start=20, stop=30, status=5, monitor=5)

    def validate(self) -> None:
        command = self.values["command"]
        if not command or not all(isinstance(x, str) for x in command):
            raise ParamError(self.resource, "command", "expected a non-empty list of strings")
        if not all(isinstance(v, str) for v in self.values["env"].values()):
            raise ParamError(self.resource, "env", "values must be strings")

    @property
    def pidfile(self) -> Path:
        return Path(self.values["pidfile"] or f"{PID_DIR}/{self.resource}.pid")

    def _recorded(self) -> tuple[int, int] | None:
        try:
            pid, started = (int(x) for x in self.pidfile.read_text().split())
        except (OSError, ValueError):
            return None
        return pid, started

    def _running_pid(self) -> int | None:
        recorded = self._recorded()
        if recorded is None:
            return None
        pid, started = recorded
        return pid if start_time(pid) == started else None

    def _argv(self) -> list[str]:
        argv = ["env", f"--chdir={self.values['cwd']}",
                *(f"{k}={v}" for k, v in self.values["env"].items()), "--",
                *self.values["command"]]
        if self.values["user"]:
            user = self.values["user"]
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]
        return argv

    async def start(self) -> AgentResult:
        if self._running_pid() is not None:
            return success("already running")
        log = Path(LOG_DIR) / f"{self.resource}.log"
        try:
            pid = await asyncio.to_thread(spawn_detached, self._argv(), log)
        except OSError as exc:
            return failure(f"cannot start {self.values['command'][0]}: {exc}")
        started = start_time(pid)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(f"{pid} {started}\n")
        await asyncio.sleep(EARLY_EXIT_CHECK_S)
        if self._running_pid() is None:
            return failure(f"{self.values['command'][0]} exited at once (see {log})")
        return success(f"pid {pid}")

    async def stop(self) -> AgentResult:
        pid = self._running_pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return success("not running")
        self._signal(pid, signal.SIGTERM)
        if not await self._gone(pid, self.values["stop_timeout_s"]):
            self._signal(pid, signal.SIGKILL)
            if not await self._gone(pid, 5.0):
                return failure(f"pid {pid} survived SIGKILL")
        self.pidfile.unlink(missing_ok=True)
        return success()

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        """Signal the process group (the process leads its own session)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)

    async def _gone(self, pid: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        recorded = self._recorded()
        started = recorded[1] if recorded else None
        while loop.time() < deadline:
            if start_time(pid) != started:
                return True
            await asyncio.sleep(0.02)
        return start_time(pid) != started

    async def status(self) -> AgentResult:
        if self._running_pid() is not None:
            return success()
        if self._recorded() is not None:
            return not_running("its process is gone")
        return not_running()
