"""`ocf`: any OCF resource agent (Debian's resource-agents package and others), called
with the OCF environment and `OCF_RESKEY_*` parameters; its exit codes are OCF codes."""

from __future__ import annotations

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
)
from tandem.resources.registry import register
from tandem.util.procrun import CommandError, run_command

OCF_ROOT = "/usr/lib/ocf"
# Agents keep state files under HA_RSCTMP; per node (private /run/tandem) instead of the
# shared /run/resource-agents, so that two nodes on one host never share them.
RSC_TMP = "/run/tandem/resource-agents"
NAME_RE = r"[A-Za-z0-9_.-]+"


@register
class OcfAgent(ResourceAgent):
    """An OCF resource agent script."""

    name = "ocf"
    summary = "any OCF resource agent (e.g. heartbeat:Dummy, heartbeat:IPaddr2)"
    params = (
        ParamSpec("type", "string", required=True, description="agent name, e.g. IPaddr2"),
        ParamSpec("provider", "string", default="heartbeat", description="OCF provider"),
        ParamSpec("params", "table", default={}, description="passed as OCF_RESKEY_*"),
    )
    timeouts = Timeouts(start=60, stop=60, status=20, monitor=20)

    def validate(self) -> None:
        for key in ("type", "provider"):
            if not re.fullmatch(NAME_RE, self.values[key]):
                raise ParamError(self.resource, key, f"not a valid name: {self.values[key]!r}")
        for key in self.values["params"]:
            if not re.fullmatch(r"[A-Za-z0-9_]+", key):
                raise ParamError(self.resource, f"params.{key}", "not a valid parameter name")

    @property
    def script(self) -> Path:
        return Path(OCF_ROOT, "resource.d", str(self.values["provider"]), str(self.values["type"]))

    def environment(self, timeout: float) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "OCF_ROOT": OCF_ROOT, "OCF_FUNCTIONS_DIR": f"{OCF_ROOT}/lib/heartbeat",
               "OCF_RESOURCE_INSTANCE": self.resource,
               "OCF_RESOURCE_TYPE": self.values["type"],
               "OCF_RESOURCE_PROVIDER": self.values["provider"],
               "OCF_RESKEY_CRM_meta_timeout": str(int(timeout * 1000)),
               "HA_RSCTMP": RSC_TMP}
        for key, value in self.values["params"].items():
            env[f"OCF_RESKEY_{key}"] = str(value).lower() if isinstance(value, bool) \
                else str(value)
        return env

    async def _call(self, action: str, timeout: float) -> AgentResult:
        if not os.access(self.script, os.X_OK):
            return AgentResult(OcfCode.ERR_INSTALLED, f"no OCF agent at {self.script}")
        Path(RSC_TMP).mkdir(parents=True, exist_ok=True)
        try:
            done = await run_command([str(self.script), action], timeout_s=timeout,
                                     env=self.environment(timeout))
        except CommandError as exc:
            return AgentResult(OcfCode.ERR_GENERIC, str(exc))
        try:
            code = OcfCode(done.returncode)
        except ValueError:
            code = OcfCode.ERR_GENERIC
        return AgentResult(code, "" if code in (OcfCode.SUCCESS, OcfCode.NOT_RUNNING)
                           else f"{action} exited {done.returncode}: {done.tail()}")

    async def start(self) -> AgentResult:
        return await self._call("start", self.timeouts.start)

    async def stop(self) -> AgentResult:
        return await self._call("stop", self.timeouts.stop)

    async def status(self) -> AgentResult:
        return await self._call("monitor", self.timeouts.status)

    async def monitor(self) -> AgentResult:
        return await self._call("monitor", self.timeouts.monitor)
