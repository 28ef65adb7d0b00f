"""`process`: run and supervise a command line as a service, for daemons that have no
init script.

The command runs detached in a session of its own. Its pid, start time and session are
kept in a pid file: the start time makes a recycled pid harmless (status and stop only
ever act on the process that was started), and the session lets stop reach every
process the command left behind, even after the command itself has exited.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    failure,
    not_running,
    success,
)
from tandem.resources.proctab import (
    ProcRef,
    is_running,
    proc_stat,
    session_members,
    signal_all,
    wait_gone,
)
from tandem.resources.registry import register
from tandem.util.daemonize import spawn_detached

PID_DIR = "/run/tandem/process"
LOG_DIR = "/var/log/tandem"
EARLY_EXIT_CHECK_S = 0.05
KILL_ROUNDS = 3
KILL_WAIT_S = 5.0
STOP_SIGNALS = ("TERM", "INT", "QUIT", "HUP", "USR1", "USR2")
ENV_KEY_RE = r"[A-Za-z_][A-Za-z0-9_]*"
USER_RE = r"[A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+"


@dataclass(frozen=True)
class Record:
    """What the pid file says about the started command."""

    pid: int
    start: int
    sid: int

    @property
    def ref(self) -> ProcRef:
        return ProcRef(self.pid, self.start)

    def members(self) -> list[ProcRef]:
        """Live processes of the command's session. Once the session id names a newer
        process, the number was recycled and the session is someone else's."""
        holder = proc_stat(self.sid)
        if holder is not None and holder.start > self.start:
            return []
        return session_members(self.sid, self.start)


def read_record(path: Path) -> Record | None:
    try:
        fields = [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return None
    if len(fields) == 2:  # pid and start only: the command leads its own session
        fields.append(fields[0])
    return Record(*fields[:3]) if len(fields) >= 3 else None


def write_record(path: Path, record: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(f"{record.pid} {record.start} {record.sid}\n")
    temporary.replace(path)


@register
class ProcessAgent(ResourceAgent):
    """A supervised command line."""

    name = "process"
    summary = "run and supervise a command line (daemons without an init script)"
    params = (
        ParamSpec("command", "list", required=True,
                  description='argv, e.g. ["/usr/sbin/rpcbind", "-f"]'),
        ParamSpec("cwd", "string", default="/", description="working directory"),
        ParamSpec("user", "string", default="", description="run as this user (name or uid)"),
        ParamSpec("env", "table", default={}, description="extra environment variables"),
        ParamSpec("stop_signal", "string", default="TERM", choices=STOP_SIGNALS,
                  description="signal asking the command to stop (SIGKILL follows)"),
        ParamSpec("stop_timeout_s", "float", default=10.0,
                  description="how long the command gets to stop before SIGKILL"),
        ParamSpec("pidfile", "string", default="",
                  description=f"where the pid is kept (default {PID_DIR}/RESOURCE.pid)"),
        ParamSpec("output", "string", default="",
                  description=f"file for stdout and stderr (default {LOG_DIR}/RESOURCE.log)"),
    )
    timeouts = Timeouts(start=20, stop=30, status=5, monitor=5)

    def validate(self) -> None:
        command = self.values["command"]
        if not command or not all(isinstance(x, str) and x for x in command):
            raise ParamError(self.resource, "command", "expected a non-empty list of strings")
        for key in ("cwd", "pidfile", "output"):
            if self.values[key] and not self.values[key].startswith("/"):
                raise ParamError(self.resource, key, "must be an absolute path")
        if self.values["user"] and not re.fullmatch(USER_RE, self.values["user"]):
            raise ParamError(self.resource, "user", f"not a user name: {self.values['user']!r}")
        for key, value in self.values["env"].items():
            if not re.fullmatch(ENV_KEY_RE, key) or not isinstance(value, str):
                raise ParamError(self.resource, f"env.{key}", "expected NAME = \"string\"")
        if self.values["stop_timeout_s"] < 0:
            raise ParamError(self.resource, "stop_timeout_s", "must be >= 0")

    @property
    def pidfile(self) -> Path:
        return Path(self.values["pidfile"] or f"{PID_DIR}/{self.resource}.pid")

    @property
    def output(self) -> Path:
        return Path(self.values["output"] or f"{LOG_DIR}/{self.resource}.log")

    def _argv(self, account: pwd.struct_passwd | None) -> list[str]:
        argv = ["env", f"--chdir={self.values['cwd']}", "--", *self.values["command"]]
        if account is not None:
            argv = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                    "--init-groups", *argv]
        return argv

    def _account(self) -> pwd.struct_passwd | None:
        user = self.values["user"]
        if not user:
            return None
        return pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)

    def _running(self) -> Record | None:
        record = read_record(self.pidfile)
        return record if record is not None and is_running(record.ref) else None

    # -- actions -----------------------------------------------------------------------------
    async def start(self) -> AgentResult:
        running = await asyncio.to_thread(self._running)
        if running is not None:
            return success(f"already running (pid {running.pid})")
        try:
            account = await asyncio.to_thread(self._account)
        except KeyError:
            return failure(f"no user {self.values['user']} on this node", OcfCode.ERR_INSTALLED)
        env = dict(os.environ, **self.values["env"])
        try:
            pid = await asyncio.to_thread(spawn_detached, self._argv(account), self.output, env)
        except OSError as exc:
            return failure(f"cannot start {self.values['command'][0]}: {exc}")
        now = proc_stat(pid)
        if now is not None and now.alive:
            await asyncio.to_thread(write_record, self.pidfile, Record(pid, now.start, now.sid))
            await asyncio.sleep(EARLY_EXIT_CHECK_S)
        if now is None or not is_running(now.ref):
            return failure(f"{self.values['command'][0]} exited at once: "
                           f"{await asyncio.to_thread(self._last_output)}")
        return success(f"pid {pid}")

    def _last_output(self) -> str:
        try:
            lines = self.output.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1][:200] if lines else f"no output (see {self.output})"

    async def stop(self) -> AgentResult:
        record = await asyncio.to_thread(read_record, self.pidfile)
        if record is None:
            return success("not running")
        stop_signal = signal.Signals[f"SIG{self.values['stop_signal']}"]
        members = await asyncio.to_thread(record.members)
        if not members:
            await asyncio.to_thread(self.pidfile.unlink, missing_ok=True)
            return success(f"not running (pid {record.pid} had exited)")
        how = stop_signal.name
        signal_all(members, stop_signal)
        await wait_gone(members, self.values["stop_timeout_s"])
        for _ in range(KILL_ROUNDS):
            members = await asyncio.to_thread(record.members)
            if not members:
                break
            how = f"SIGKILL after {stop_signal.name} and {self.values['stop_timeout_s']:g} s"
            signal_all(members, signal.SIGKILL)
            await wait_gone(members, KILL_WAIT_S)
        else:
            left = await asyncio.to_thread(record.members)
            if left:
                return failure(f"pid {', '.join(str(r.pid) for r in left)} survived SIGKILL")
        await asyncio.to_thread(self.pidfile.unlink, missing_ok=True)
        return success(f"stopped pid {record.pid} ({how})")

    async def status(self) -> AgentResult:
        record = await asyncio.to_thread(read_record, self.pidfile)
        if record is None:
            return not_running()
        if is_running(record.ref):
            return success(f"running (pid {record.pid})")
        left = await asyncio.to_thread(record.members)
        if left:
            return failure(f"pid {record.pid} has exited, but {len(left)} process(es) of its "
                           f"session remain (pid {', '.join(str(r.pid) for r in left[:8])})")
        return not_running(f"pid {record.pid} has exited")
