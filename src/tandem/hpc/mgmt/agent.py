"""`haservices`: the management-node service (the manual's HA_NSM) as one resource that
runs `haservices start|stop|status`, i.e. the command lists of /etc/HA.

The manual leaves /etc/HA/status empty ("there is not yet monitoring of status"), and an
empty list succeeds on every node, so the status list alone cannot say *where* the
service runs. The agent therefore keeps a small state file per resource under
/run/tandem (cleared at boot, like the processes it describes):

- no state file: nothing was started here -> status NOT_RUNNING, stop has nothing to do
  (and neither runs a command, so a node whose /etc/HA is not set up yet is fine);
- "starting": a start began and did not succeed; parts may be up -> status fails, so the
  engine stops it (the stop list is idempotent) before it starts anywhere else;
- "started": the start list succeeded -> status runs the status list (empty = healthy).

The file is written before the start list runs and removed only after a successful stop,
so whatever the engine may have brought up here is always either reported or stopped.

Once per boot, the first status that finds nothing started here (the probe at tandemd
start, before HA_NSM may run on this node) runs `hacron boot`: the crons of /etc/HA/cron
go to sleep, so a node that crashed while active does not run them again beside the peer
that took over. A mark in the state directory says it was done.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from pathlib import Path

from tandem.hpc.mgmt.cellguard import ENGINE_ENV
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
from tandem.util.procrun import CommandError, CommandNotFound, CommandResult, run_command

log = logging.getLogger(__name__)
STATE_DIR = "/run/tandem/haservices"
DEFAULT_ROOT = "/etc/HA"
STARTING, STARTED = "starting", "started"
# The action's own timeout (base.timed) kills haservices' process group; this cap only
# matters if an action is awaited without one.
COMMAND_CAP_S = 3600.0
EXIT_BAD_INPUT = 2  # haservices: a data file is missing or malformed
ENV_NAME_RE = r"[A-Za-z_][A-Za-z0-9_]*"


def installed_tool(name: str) -> str:
    """The toolkit entry point `name` installed beside this Python, else the one on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    return shutil.which(name) or name


def installed_haservices() -> str:
    """The `haservices` entry point installed beside this Python, else the one on PATH."""
    return installed_tool("haservices")


@register
class HaservicesAgent(ResourceAgent):
    """Runs the /etc/HA start, stop and status lists through `haservices`."""

    name = "haservices"
    summary = "the management-node service: haservices start/stop/status (/etc/HA lists)"
    params = (
        ParamSpec("root", "string", default=DEFAULT_ROOT,
                  description="directory of the data files (start, stop, status, ...)"),
        ParamSpec("command", "string", default="",
                  description="the haservices program (default: the installed one)"),
        ParamSpec("env", "table", default={},
                  description="extra environment for haservices and the commands it runs "
                              "(e.g. TANDEM_HA_PEER_COMMAND)"),
        ParamSpec("command_timeout_s", "float", default=0.0,
                  description="deadline of each listed command (0: haservices' default); "
                              "keep it below the action timeouts"),
        ParamSpec("state_dir", "string", default=STATE_DIR,
                  description="where the agent records what it started (cleared at boot)"),
    )
    timeouts = Timeouts(start=300, stop=300, status=60, monitor=60)

    def validate(self) -> None:
        for key in ("root", "state_dir"):
            if not str(self.values[key]).startswith("/"):
                raise ParamError(self.resource, key, "must be an absolute path")
        command = self.values["command"]
        if command and not command.startswith("/"):
            raise ParamError(self.resource, "command", "must be an absolute path")
        for key, value in self.values["env"].items():
            if not re.fullmatch(ENV_NAME_RE, key):
                raise ParamError(self.resource, f"env.{key}", "not a variable name")
            if not isinstance(value, str):
                raise ParamError(self.resource, f"env.{key}",
                                 f"expected a string, got {type(value).__name__}")
        if self.values["command_timeout_s"] < 0:
            raise ParamError(self.resource, "command_timeout_s", "must be >= 0")

    # -- the record of what was started here ---------------------------------------------
    @property
    def _state_file(self) -> Path:
        return Path(self.values["state_dir"]) / self.resource

    @property
    def _boot_mark(self) -> Path:
        return Path(self.values["state_dir"]) / f".{self.resource}.crons-asleep"

    def _recorded(self) -> str | None:
        try:
            return self._state_file.read_text().strip() or STARTING
        except FileNotFoundError:
            return None

    def _record(self, state: str) -> None:
        path = self._state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.new")
        partial.write_text(state + "\n")
        os.replace(partial, path)

    # -- running haservices --------------------------------------------------------------
    def argv(self, action: str) -> list[str]:
        """The command line of one action."""
        argv = [self.values["command"] or installed_haservices(), "--root", self.values["root"]]
        if self.values["command_timeout_s"]:
            argv += ["--timeout", f"{self.values['command_timeout_s']:g}"]
        return [*argv, action]

    def environment(self) -> dict[str, str]:
        """Ours plus the root and `env`: the commands haservices runs get only the action
        as argument and read their settings from the environment. ENGINE_ENV tells the
        tools that guard the shared disks that the engine itself runs them here."""
        return {**os.environ, "TANDEM_HA_ROOT": self.values["root"], ENGINE_ENV: "1",
                **self.values["env"]}

    async def _run(self, action: str) -> CommandResult:
        return await run_command(self.argv(action), timeout_s=COMMAND_CAP_S,
                                 env=self.environment())

    # -- actions ----------------------------------------------------------------------------
    async def start(self) -> AgentResult:
        if self._recorded() == STARTED and (await self.status()).ok:
            return success("already started")
        self._record(STARTING)
        try:
            done = await self._run("start")
        except CommandNotFound as exc:
            return AgentResult(OcfCode.ERR_INSTALLED, str(exc))
        except CommandError as exc:
            return failure(str(exc))
        if not done.ok:
            code = OcfCode.ERR_CONFIGURED if done.returncode == EXIT_BAD_INPUT \
                else OcfCode.ERR_GENERIC
            return AgentResult(code, f"haservices start failed: {done.tail()}")
        self._record(STARTED)
        return success()

    async def stop(self) -> AgentResult:
        if self._recorded() is None:
            return success("not started here")
        try:
            done = await self._run("stop")
        except CommandError as exc:
            return failure(str(exc))
        if not done.ok:
            return failure(f"haservices stop failed: {done.tail()}")
        self._state_file.unlink(missing_ok=True)
        return success()

    async def _crons_to_sleep(self) -> None:
        """Once per boot, before anything started here: `hacron boot` (see module doc).
        A failure is logged and tried again at the next look; it is not this resource's
        failure (nothing runs here)."""
        if self._boot_mark.exists():
            return
        argv = [installed_tool("hacron"), "--root", self.values["root"], "-q", "boot"]
        try:
            done = await run_command(argv, timeout_s=COMMAND_CAP_S, env=self.environment())
        except CommandError as exc:
            log.error("%s: crons of %s/cron not put to sleep: %s", self.resource,
                      self.values["root"], exc)
            return
        if not done.ok:
            log.error("%s: crons of %s/cron not put to sleep: %s", self.resource,
                      self.values["root"], done.tail())
            return
        self._boot_mark.parent.mkdir(parents=True, exist_ok=True)
        self._boot_mark.touch()

    async def status(self) -> AgentResult:
        state = self._recorded()
        if state is None:
            await self._crons_to_sleep()
            return not_running()
        if state != STARTED:
            return failure("a start did not complete here: it needs a stop")
        try:
            done = await self._run("status")
        except CommandError as exc:
            return failure(str(exc))
        if not done.ok:
            return failure(f"haservices status failed: {done.tail()}")
        return success()
