"""`ocf`: any OCF resource agent (Debian's resource-agents package and others), called
with the OCF environment and `OCF_RESKEY_*` parameters; its exit codes are OCF codes.

As for LSB scripts, an agent missing on this node means the resource cannot be running
here: status says NOT_RUNNING and stop succeeds; only start reports ERR_INSTALLED.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

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

OCF_ROOT = "/usr/lib/ocf"
# Agents keep state files under HA_RSCTMP; per node (private /run/tandem) instead of the
# shared /run/resource-agents, so that two lab nodes on one host never share them.
RSC_TMP = "/run/tandem/resource-agents"
NAME_RE = r"[A-Za-z0-9_][A-Za-z0-9_.+-]*"
KEY_RE = r"[A-Za-z_][A-Za-z0-9_]*"
COMMAND_CAP_S = 3600.0  # the action's timeout (base.timed) normally ends it first
# Exit codes beyond OCF's basic seven (promotable resources), for messages.
OTHER_CODES = {8: "running promoted", 9: "failed while promoted", 190: "degraded",
               191: "degraded while promoted"}


def ocf_code(returncode: int) -> OcfCode:
    """An agent's exit status as an OCF code (anything unknown is a generic error)."""
    try:
        return OcfCode(returncode)
    except ValueError:
        return OcfCode.ERR_GENERIC


def env_value(value: object) -> str:
    """A parameter value as OCF agents expect it in the environment."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@register
class OcfAgent(ResourceAgent):
    """An OCF resource agent script."""

    name = "ocf"
    summary = "any OCF resource agent (e.g. heartbeat:Dummy, heartbeat:IPaddr2)"
    params = (
        ParamSpec("type", "string", required=True, description="agent name, e.g. IPaddr2"),
        ParamSpec("provider", "string", default="heartbeat", description="OCF provider"),
        ParamSpec("params", "table", default={},
                  description="agent parameters, passed as OCF_RESKEY_<name>"),
    )
    timeouts = Timeouts(start=60, stop=60, status=20, monitor=20)

    def validate(self) -> None:
        for key in ("type", "provider"):
            if not re.fullmatch(NAME_RE, self.values[key]):
                raise ParamError(self.resource, key, f"not a valid name: {self.values[key]!r}")
        for key, value in self.values["params"].items():
            if not re.fullmatch(KEY_RE, key):
                raise ParamError(self.resource, f"params.{key}", "not a valid parameter name")
            if not isinstance(value, str | int | float | bool):
                raise ParamError(self.resource, f"params.{key}",
                                 f"expected a string, number or boolean, got {value!r}")

    @property
    def script(self) -> Path:
        return Path(OCF_ROOT, "resource.d", self.values["provider"], self.values["type"])

    def environment(self, action: str) -> dict[str, str]:
        timeout = getattr(self.timeouts, action, self.timeouts.monitor)
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "OCF_ROOT": OCF_ROOT, "OCF_FUNCTIONS_DIR": f"{OCF_ROOT}/lib/heartbeat",
               "OCF_RA_VERSION_MAJOR": "1", "OCF_RA_VERSION_MINOR": "0",
               "OCF_RESOURCE_INSTANCE": self.resource,
               "OCF_RESOURCE_TYPE": self.values["type"],
               "OCF_RESOURCE_PROVIDER": self.values["provider"],
               "OCF_RESKEY_CRM_meta_timeout": str(int(timeout * 1000)),
               "HA_RSCTMP": RSC_TMP}
        for key, value in self.values["params"].items():
            env[f"OCF_RESKEY_{key}"] = env_value(value)
        return env

    async def _call(self, action: str, verb: str) -> AgentResult:
        """Run the agent's `verb` for our `action` (status runs the agent's monitor)."""
        if not os.access(self.script, os.X_OK):
            missing = f"no OCF agent at {self.script} on this node"
            if action == "start":
                return AgentResult(OcfCode.ERR_INSTALLED, missing)
            return success(missing) if action == "stop" else not_running(missing)
        await asyncio.to_thread(os.makedirs, RSC_TMP, exist_ok=True)
        try:
            done = await run_command([str(self.script), verb], timeout_s=COMMAND_CAP_S,
                                     env=self.environment(action))
        except CommandError as exc:
            return AgentResult(OcfCode.ERR_GENERIC, one_line(str(exc)))
        code = ocf_code(done.returncode)
        if code in (OcfCode.SUCCESS, OcfCode.NOT_RUNNING):
            return AgentResult(code)
        extra = OTHER_CODES.get(done.returncode)
        return AgentResult(code, f"{verb} exited {done.returncode}"
                                 + (f" ({extra})" if extra else "") + f": {done.tail()}")

    async def start(self) -> AgentResult:
        return await self._call("start", "start")

    async def stop(self) -> AgentResult:
        return await self._call("stop", "stop")

    async def status(self) -> AgentResult:
        return await self._call("status", "monitor")
