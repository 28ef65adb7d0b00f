"""Fence device type `external`: any `fence_*` agent of the fence-agents project.

Agents read `key=value` lines on stdin (so secrets stay off the command line), act,
and answer with their exit code: for `status` 0 means on, 2 off, anything else an
error; for `off`/`on` 0 means done. We send the BMC parameters every IPMI-style agent
understands (`ip`, `ipport`, `username`, `password`, `lanplus=1`) and then the
device's `options`, which override them; agents ignore keys they do not know.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tandem.config.model import FenceDeviceDef
from tandem.fencing.base import (
    FenceAgentError,
    FenceAuthError,
    FenceConfigError,
    FenceDevice,
    FenceError,
    FenceTarget,
    FenceUnreachable,
    PowerState,
)
from tandem.fencing.proc import CommandResult, one_line, run_command

AGENT_DIRS = (Path("/usr/sbin"), Path("/usr/local/sbin"))
STATUS_ON, STATUS_OFF = 0, 2

# fence-agents log lines look like "2026-01-01 10:00:00,123 ERROR: Failed: ...".
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
_UNREACHABLE = re.compile(r"Connection timed out|Unable to connect|No route|unreachable",
                          re.IGNORECASE)
_AUTH = re.compile(r"login|password|authenticat", re.IGNORECASE)


class ExternalDevice(FenceDevice):
    """Runs the agent named by the device's `agent` (a path, or a name in /usr/sbin)."""

    def __init__(self, definition: FenceDeviceDef,
                 *, agent_dirs: tuple[Path, ...] = AGENT_DIRS) -> None:
        super().__init__(definition)
        self.agent_dirs = agent_dirs

    async def off(self, target: FenceTarget) -> None:
        result = await self._run(target, "off")
        if result.returncode != 0:
            raise self._error(target, "off", result)

    async def on(self, target: FenceTarget) -> None:
        result = await self._run(target, "on")
        if result.returncode != 0:
            raise self._error(target, "on", result)

    async def status(self, target: FenceTarget) -> PowerState:
        result = await self._run(target, "status")
        if result.returncode == STATUS_ON:
            return PowerState.ON
        if result.returncode == STATUS_OFF:
            return PowerState.OFF
        raise self._error(target, "status", result)

    def agent_path(self) -> str:
        """Where the agent is; FenceConfigError when it is missing."""
        agent = self.definition.agent
        if not agent:
            raise FenceConfigError(f"external device {self.name!r} has no agent")
        if "/" in agent:
            candidates = [Path(agent)]
        else:
            candidates = [d / agent for d in self.agent_dirs]
            found = shutil.which(agent)
            if found:
                candidates.append(Path(found))
        for path in candidates:
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
        raise FenceConfigError(f"external device {self.name!r}: fence agent {agent!r} not "
                               f"found (looked in {', '.join(map(str, self.agent_dirs))} "
                               f"and PATH)")

    def stdin_text(self, target: FenceTarget, action: str) -> str:
        """The agent's input: one `key=value` per line."""
        params: dict[str, str] = {"action": action}
        if target.address:
            params.update(ip=target.address, ipport=str(target.port))
        if target.user:
            params["username"] = target.user
        if target.password is not None:
            params["password"] = target.password
        params["lanplus"] = "1"
        params.update(self.definition.options)
        params["action"] = action  # options must not turn an "off" into something else
        for key, value in params.items():
            if "\n" in key or "\n" in value or "=" in key:
                raise FenceConfigError(f"external device {self.name!r}: option {key!r} "
                                       f"cannot be passed on stdin (newline or '=')")
        return "".join(f"{key}={value}\n" for key, value in params.items())

    async def _run(self, target: FenceTarget, action: str) -> CommandResult:
        stdin = self.stdin_text(target, action).encode()
        return await run_command([self.agent_path()], stdin=stdin,
                                 timeout_s=self.definition.timeout_s,
                                 env={**os.environ, "LC_ALL": "C"})

    def _error(self, target: FenceTarget, action: str, result: CommandResult) -> FenceError:
        agent = os.path.basename(self.definition.agent or "agent")
        where = f"{self.name}: {agent} {action} of {target.node} (exit {result.returncode})"
        lines = [_LOG_PREFIX.sub("", ln).strip() for ln in result.stderr.splitlines()]
        errors = [ln for ln in lines if ln.startswith(("ERROR", "Failed"))]
        chosen = errors or [ln for ln in lines if ln and "Warning" not in ln] or ["no message"]
        detail = one_line(chosen[-1].removeprefix("ERROR:").strip())
        if _UNREACHABLE.search(detail):
            return FenceUnreachable(f"{where}: {detail}")
        if _AUTH.search(detail):
            return FenceAuthError(f"{where}: {detail}")
        return FenceAgentError(f"{where}: {detail}")
