"""`slurmctld`: the Slurm controller as a resource of a failover service.

Two modes (README, "Batch systems"):

- `tandem` (default): every node of the service's domain is a `SlurmctldHost` of
  slurm.conf, with its own address; the controller runs only where the service runs. It
  starts on the state disk the service has just mounted; on a node listed as a backup,
  `scontrol takeover` then makes it the controller at once, instead of Slurm waiting
  `SlurmctldTimeout` (120 s by default) for a primary that the cell has already fenced.
- `tandem` with `virtual_host`: slurm.conf has one SlurmctldHost, a name of the
  service's own with the service address (`SlurmctldHost=slurmctl(10.1.0.65)`); the
  controller runs in a UTS namespace of its own named `virtual_host`, so Slurm sees one
  controller that moves with the address: no backup, no takeover, and clients never try
  a dead node first.
- `slurm`: Slurm's own primary and backup controllers, run by the site on both nodes;
  the service only moves the state disk (and fences). The resource then starts nothing:
  it checks the state directory and munge where the disk was mounted, so that a backup
  that takes over finds the state there.

Before the controller starts: slurm.conf is read, this node must be one of its
controllers, `StateSaveLocation` must be on a mounted disk (not the root file system),
owned and writable by `SlurmUser`, and `munge -n | unmunge` must work. The daemon runs
under the `process` agent's supervision (its whole session is stopped, so
`slurmscriptd` does not outlive it). Status: the daemon runs and `scontrol ping` says
this host is UP.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from tandem.hpc.batch import BatchConfError
from tandem.hpc.batch.slurmconf import read_slurm_conf
from tandem.hpc.batch.slurmhost import (
    controller_index,
    describe,
    munge_problem,
    ping_states,
    short_hostname,
    state_dir_problem,
)
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
from tandem.resources.process import ProcessAgent
from tandem.resources.registry import register
from tandem.util.procrun import CommandError, CommandResult, run_command

STATE_DIR = "/run/tandem/slurmctld"
MODES = ("tandem", "slurm")
PING_TIMEOUT_S = 10.0
POLL_S = 0.1
HOST_NAME_RE = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})"


@register
class SlurmctldAgent(ResourceAgent):
    """The Slurm controller where the service runs (or, in mode `slurm`, the checks of
    its state disk for Slurm's own backup)."""

    name = "slurmctld"
    summary = "Slurm controller on the service's state disk, with takeover on backups"
    params = (
        ParamSpec("conf", "string", default="/etc/slurm/slurm.conf",
                  description="slurm.conf of the cluster"),
        ParamSpec("mode", "string", default="tandem", choices=MODES,
                  description="tandem: the controller runs where the service runs; "
                              "slurm: Slurm's own backup, tandem moves the disk"),
        ParamSpec("virtual_host", "string", default="",
                  description="run slurmctld under this host name, the only SlurmctldHost "
                              "(with the service address): no backup, no takeover"),
        ParamSpec("mountpoint", "string", default="",
                  description="mount point of the state disk (checked mounted at start)"),
        ParamSpec("slurmctld", "string", default="/usr/sbin/slurmctld",
                  description="the controller binary"),
        ParamSpec("scontrol", "string", default="scontrol", description="scontrol binary"),
        ParamSpec("check_munge", "boolean", default=True,
                  description="refuse to start unless `munge -n | unmunge` works"),
        ParamSpec("stop_timeout_s", "float", default=10.0,
                  description="how long slurmctld gets to save its state before SIGKILL"),
    )
    timeouts = Timeouts(start=60, stop=40, status=15, monitor=15)

    def validate(self) -> None:
        for key in ("conf", "mountpoint"):
            if self.values[key] and not self.values[key].startswith("/"):
                raise ParamError(self.resource, key, "must be an absolute path")
        if self.values["stop_timeout_s"] < 0:
            raise ParamError(self.resource, "stop_timeout_s", "must be >= 0")
        virtual = self.values["virtual_host"]
        if virtual and not re.fullmatch(HOST_NAME_RE, virtual):
            raise ParamError(self.resource, "virtual_host", f"not a host name: {virtual!r}")
        if virtual and self.values["mode"] == "slurm":
            raise ParamError(self.resource, "virtual_host",
                             "only for mode tandem (Slurm's own backup needs two hosts)")

    @property
    def _host(self) -> str:
        """The name slurmctld runs under: the virtual host, else this node's."""
        return str(self.values["virtual_host"]) or short_hostname()

    @property
    def _marker(self) -> Path:
        """Mode `slurm`: says the checks passed here and the service holds the disk."""
        return Path(STATE_DIR, f"{self.resource}.checked")

    def _daemon(self) -> ProcessAgent:
        conf = self.values["conf"]
        command = [self.values["slurmctld"], "-D", "-f", conf]
        if self.values["virtual_host"]:  # same pid: unshare and sh exec, no fork
            command = ["unshare", "--uts", "--", "sh", "-c", 'hostname "$1" && exec "$2" '
                       '-D -f "$3"', "slurmctld", self.values["virtual_host"],
                       self.values["slurmctld"], conf]
        agent = ProcessAgent.create(self.resource, {
            "command": command,
            "env": {"SLURM_CONF": conf},
            "stop_timeout_s": self.values["stop_timeout_s"],
            "pidfile": f"{STATE_DIR}/{self.resource}.pid",
        })
        assert isinstance(agent, ProcessAgent)
        return agent

    async def _scontrol(self, *args: str, timeout_s: float = PING_TIMEOUT_S) -> CommandResult:
        return await run_command([self.values["scontrol"], *args], timeout_s=timeout_s,
                                 env={"SLURM_CONF": self.values["conf"], "PATH": _PATH})

    # -- start ------------------------------------------------------------------------------
    async def _preflight(self) -> int | AgentResult:
        """This node's controller index once slurm.conf, the state disk and munge are
        right; else the failure that says which of them is wrong."""
        try:
            conf = await asyncio.to_thread(read_slurm_conf, self.values["conf"])
        except BatchConfError as exc:
            return failure(str(exc), OcfCode.ERR_CONFIGURED)
        host = self._host
        index = controller_index(conf, host)
        if index is None:
            return failure(f"this node ({host}) is not a SlurmctldHost of {conf.path} "
                           f"(controllers: {describe(conf.controllers)})",
                           OcfCode.ERR_CONFIGURED)
        if self.values["virtual_host"] and len(conf.controllers) > 1:
            return failure(f"{conf.path}: with virtual_host {host}, SlurmctldHost must list "
                           f"only {host} (found {describe(conf.controllers)})",
                           OcfCode.ERR_CONFIGURED)
        problem = await asyncio.to_thread(state_dir_problem, conf.state_save_location.value,
                                          conf.slurm_user, self.values["mountpoint"])
        if problem is None and self.values["check_munge"]:
            problem = await munge_problem()
        if problem is not None:
            return failure(problem)
        return index

    async def start(self) -> AgentResult:
        checked = await self._preflight()
        if isinstance(checked, AgentResult):
            return checked
        index = checked
        if self.values["mode"] == "slurm":
            await asyncio.to_thread(_touch, self._marker)
            return success("state disk and munge ready for Slurm's own controllers")
        started = await self._daemon().start()
        if not started.ok:
            return started
        host = self._host
        up = await self._wait_up(host, self.timeouts.start / 2)
        if up is not None:
            return up
        if index == 0:
            return success(f"primary controller on {host} ({started.message})")
        return await self._take_over(index, host)

    async def _wait_up(self, host: str, limit_s: float) -> AgentResult | None:
        """None once `scontrol ping` says this host is UP; a failure after `limit_s`."""
        deadline = time.monotonic() + limit_s
        last = ""
        while time.monotonic() < deadline:
            if (await self._daemon().status()).code != OcfCode.SUCCESS:
                return failure(f"slurmctld exited during its start (see "
                               f"{self._daemon().output})")
            try:
                pinged = await self._scontrol("ping")
                last = pinged.stdout.strip() or pinged.tail()
                if ping_states(pinged.stdout).get(host) == "UP":
                    return None
            except CommandError as exc:
                last = str(exc)
            await asyncio.sleep(POLL_S)
        return failure(f"slurmctld on {host} did not answer scontrol ping within "
                       f"{limit_s:g} s: {last}")

    async def _take_over(self, index: int, host: str) -> AgentResult:
        """Make this backup the controller now (the primary is fenced or stopped)."""
        try:
            done = await self._scontrol("takeover", str(index),
                                        timeout_s=self.timeouts.start / 2)
        except CommandError as exc:
            return failure(f"scontrol takeover {index} failed: {exc}")
        if not done.ok:
            return failure(f"scontrol takeover {index} failed: {done.tail()}")
        return success(f"backup controller {index} on {host} took over")

    # -- stop and status --------------------------------------------------------------------
    async def stop(self) -> AgentResult:
        if self.values["mode"] == "slurm":
            await asyncio.to_thread(self._marker.unlink, missing_ok=True)
            return success("state disk released")
        return await self._daemon().stop()

    async def status(self) -> AgentResult:
        if self.values["mode"] == "slurm":
            present = await asyncio.to_thread(self._marker.exists)
            return success("checked") if present else not_running()
        running = await self._daemon().status()
        if not running.ok:
            return running
        host = self._host
        try:
            pinged = await self._scontrol("ping")
        except CommandError as exc:
            return failure(f"scontrol ping failed: {exc}")
        if ping_states(pinged.stdout).get(host) != "UP":
            return failure(f"slurmctld runs here ({running.message}) but scontrol ping does "
                           f"not see {host} UP: {pinged.stdout.strip() or pinged.tail()}")
        return success(f"controller on {host} answers ({running.message})")


_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
