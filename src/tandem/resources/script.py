"""`script`: an LSB init script (start, stop, status with LSB exit codes).

LSB and OCF share the codes 1-7 for start and stop, but not for status, and LSB lets
`stop` of a stopped service succeed: `lsb_to_ocf` is the one place that translates.
A script that is missing on this node cannot be running here: status says so and stop
has nothing to do, so that an uninstalled script never turns into a failed stop (which
would get the node fenced); only start reports it as not installed.
"""

from __future__ import annotations

import os

from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    not_running,
    success,
)
from tandem.resources.registry import register
from tandem.util.procrun import CommandError, one_line, run_command

# The action's own timeout (base.timed) cancels the script, killing its process group;
# this cap only matters if an action is awaited without one.
COMMAND_CAP_S = 3600.0

LSB_STATUS = {
    0: (OcfCode.SUCCESS, "running"),
    1: (OcfCode.ERR_GENERIC, "dead, but its pid file exists"),
    2: (OcfCode.ERR_GENERIC, "dead, but its lock file exists"),
    3: (OcfCode.NOT_RUNNING, "not running"),
    4: (OcfCode.ERR_GENERIC, "status unknown"),
}
LSB_ACTION = {
    0: OcfCode.SUCCESS, 1: OcfCode.ERR_GENERIC, 2: OcfCode.ERR_ARGS,
    3: OcfCode.ERR_UNIMPLEMENTED, 4: OcfCode.ERR_PERM, 5: OcfCode.ERR_INSTALLED,
    6: OcfCode.ERR_CONFIGURED,
}
LSB_NOT_RUNNING = 7


def lsb_to_ocf(action: str, code: int) -> OcfCode:
    """The OCF meaning of an LSB script's exit `code` for `action`."""
    if action in ("status", "monitor"):
        return LSB_STATUS.get(code, (OcfCode.ERR_GENERIC, ""))[0]
    if code == LSB_NOT_RUNNING:
        # "program is not running": the goal of a stop, a failure of a start.
        return OcfCode.SUCCESS if action == "stop" else OcfCode.ERR_GENERIC
    return LSB_ACTION.get(code, OcfCode.ERR_GENERIC)


def describe_status(code: int) -> str:
    return LSB_STATUS.get(code, (OcfCode.ERR_GENERIC, f"unexpected exit status {code}"))[1]


@register
class ScriptAgent(ResourceAgent):
    """An init script called with start, stop and status."""

    name = "script"
    summary = "an LSB init script (start/stop/status, LSB exit codes)"
    params = (
        ParamSpec("path", "string", required=True, description="the init script"),
        ParamSpec("args", "list", default=[], description="extra arguments after the action"),
    )
    timeouts = Timeouts(start=60, stop=60, status=20, monitor=20)

    def validate(self) -> None:
        if not str(self.values["path"]).startswith("/"):
            raise ParamError(self.resource, "path", "must be an absolute path")
        if not all(isinstance(a, str) for a in self.values["args"]):
            raise ParamError(self.resource, "args", "expected a list of strings")

    async def _call(self, action: str) -> AgentResult:
        path = self.values["path"]
        if not os.access(path, os.X_OK):
            missing = f"{path} is missing or not executable here"
            if action == "start":
                return AgentResult(OcfCode.ERR_INSTALLED, missing)
            return success(missing) if action == "stop" else not_running(missing)
        try:
            done = await run_command([path, action, *self.values["args"]],
                                     timeout_s=COMMAND_CAP_S)
        except CommandError as exc:
            return AgentResult(OcfCode.ERR_GENERIC, one_line(str(exc)))
        code = lsb_to_ocf(action, done.returncode)
        if action == "status":
            meaning = describe_status(done.returncode)
            return AgentResult(code, "" if code == OcfCode.SUCCESS else meaning)
        if code == OcfCode.SUCCESS:
            return success("" if done.ok else f"exit {done.returncode}: {done.tail()}")
        return AgentResult(code, f"{action} exited {done.returncode}: {done.tail()}")

    async def start(self) -> AgentResult:
        return await self._call("start")

    async def stop(self) -> AgentResult:
        return await self._call("stop")

    async def status(self) -> AgentResult:
        return await self._call("status")
