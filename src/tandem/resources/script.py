"""`script`: an LSB init script (start, stop, status with LSB exit codes)."""

from __future__ import annotations

import os

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
from tandem.resources.registry import register
from tandem.util.procrun import CommandError, run_command

# LSB `status` exit codes and what they mean for the engine.
LSB_STATUS = {
    0: OcfCode.SUCCESS,        # running
    1: OcfCode.ERR_GENERIC,    # dead, pid file exists
    2: OcfCode.ERR_GENERIC,    # dead, lock file exists
    3: OcfCode.NOT_RUNNING,    # not running
    4: OcfCode.ERR_GENERIC,    # status unknown
}
# LSB exit codes of start/stop (other than 0) mapped to OCF.
LSB_ACTION = {1: OcfCode.ERR_GENERIC, 2: OcfCode.ERR_ARGS, 3: OcfCode.ERR_UNIMPLEMENTED,
              4: OcfCode.ERR_PERM, 5: OcfCode.ERR_INSTALLED, 6: OcfCode.ERR_CONFIGURED,
              7: OcfCode.NOT_RUNNING}


def lsb_status_code(code: int) -> OcfCode:
    """OCF meaning of an LSB `status` exit code."""
    return LSB_STATUS.get(code, OcfCode.ERR_GENERIC)


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

    async def _call(self, action: str, timeout: float) -> tuple[int, str]:
        if not os.access(self.values["path"], os.X_OK):
            return 5, f"{self.values['path']} is missing or not executable"
        try:
            done = await run_command([self.values["path"], action, *self.values["args"]],
                                     timeout_s=timeout)
        except CommandError as exc:
            return 1, str(exc)
        return done.returncode, done.tail()

    async def _act(self, action: str, timeout: float) -> AgentResult:
        code, text = await self._call(action, timeout)
        if code == 0:
            return success()
        return failure(f"{action} exited {code}: {text}", LSB_ACTION.get(code,
                                                                       OcfCode.ERR_GENERIC))

    async def start(self) -> AgentResult:
        return await self._act("start", self.timeouts.start)

    async def stop(self) -> AgentResult:
        return await self._act("stop", self.timeouts.stop)

    async def status(self) -> AgentResult:
        code, text = await self._call("status", self.timeouts.status)
        meaning = lsb_status_code(code)
        if meaning == OcfCode.SUCCESS:
            return success()
        if meaning == OcfCode.NOT_RUNNING:
            return not_running()
        return failure(f"status exited {code}: {text}", meaning)
