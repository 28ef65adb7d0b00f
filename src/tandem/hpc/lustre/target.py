"""`lustre_target`: one Lustre target (MGS, MDT or OST) on a shared disk of an I/O cell.

A target is a mount: `mount -t lustre DEVICE MOUNTPOINT` starts the server, unmounting
stops it. The mount itself, the refusal to mount a device twice in one node, and the
busy-unmount escalation (SIGTERM, SIGKILL, lazy unmount, then a check that the device
was really released) are the `fs` agent's, which this agent drives with the write test
off: a target's mount point is not a directory tree one can write into.

What this agent adds:

- **Multiple-mount protection.** ldiskfs (and the lab's ext4 stand-in) made with MMP
  make a mount of a device whose MMP block is not clean (its holder crashed, or still
  runs elsewhere) wait before taking it: up to 2 x min(2I + 1, I + 60) s, I being the
  larger of the update interval, 5 s and the holder's check interval (see
  tandem.hpc.lustre.mmp). Before mounting, start reads the block (in a helper process
  with a deadline): a device being checked by fsck is refused at once, and so is one
  whose wait would not fit the start timeout, with the `mmp_wait_s` to configure.
  A failed mount names the MMP holder.
- **Effective start timeout** = 60 s (mount, journal replay, target setup) + the MMP
  allowance, which is `mmp_wait_s` when set, else 22 s (the wait for the 5 s interval
  that mke2fs and mkfs.lustre use by default; the lab's 1 s interval needs the same,
  as the kernel never checks faster than every 5 s). A resource's own
  `timeouts.start` in the cell file still wins.
- **Health.** `status` says whether the right device is mounted at the mount point;
  `monitor` also asks `lctl get_param -n health_check`, which must say `healthy`
  (anything else, such as "NOT HEALTHY" or "LBUG", or no answer within 5 s, fails the
  monitor, quoting it). The health check covers every Lustre device of the node, as a
  node's targets fail over together (one `lustre_<node>` service per I/O node).
- **Recovery.** `recovery()` reads the target's recovery_status after a failover.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from tandem.hpc.lustre.mmp import mount_wait_s
from tandem.hpc.lustre.recovery import (
    RecoveryStatus,
    parse_recovery_status,
    recovery_param,
    target_kind,
)
from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    failure,
    success,
)
from tandem.resources.fs import FsAgent
from tandem.resources.registry import register
from tandem.util.procrun import CommandError, CommandResult, CommandTimeout, run_command

START_BASE_S = 60.0
DEFAULT_MMP_WAIT_S = float(mount_wait_s(5))  # 22 s
HEALTH_TIMEOUT_S = 5.0
LCTL_TIMEOUT_S = 10.0
MMP_READ_TIMEOUT_S = 10.0
LCTL = "lctl"


def start_timeout_s(mmp_wait: float) -> float:
    """The start timeout of a target whose MMP allowance is `mmp_wait` (0: default)."""
    return START_BASE_S + (mmp_wait or DEFAULT_MMP_WAIT_S)


@register
class LustreTargetAgent(ResourceAgent):
    """Mount a Lustre target (waiting out MMP); monitor it through lctl."""

    name = "lustre_target"
    summary = "a Lustre MGS/MDT/OST: mount (MMP-aware), health_check, unmount with escalation"
    params = (
        ParamSpec("device", "string", required=True,
                  description="the target's block device (e.g. /dev/mapper/ost0)"),
        ParamSpec("mountpoint", "string", required=True,
                  description="absolute directory, created if missing"),
        ParamSpec("target", "string", required=True,
                  description="the target's Lustre name: FSNAME-OSTxxxx, FSNAME-MDTxxxx "
                              "or MGS (as lctl names it)"),
        ParamSpec("fstype", "string", default="lustre",
                  description="file system type to mount (the lab uses ext4)"),
        ParamSpec("options", "string", default="", description="extra mount options (-o)"),
        ParamSpec("mmp_wait_s", "float", default=0.0,
                  description="longest MMP wait a mount may need, added to the start "
                              "timeout; 0: 22 s, and start checks the device's MMP block"),
    )
    timeouts = Timeouts(start=start_timeout_s(0), stop=120, status=10, monitor=20)

    def validate(self) -> None:
        try:
            target_kind(self.values["target"])
        except ValueError as exc:
            raise ParamError(self.resource, "target", str(exc)) from None
        if self.values["mmp_wait_s"] < 0:
            raise ParamError(self.resource, "mmp_wait_s", "must not be negative")
        given = {key: self.values[key] for key in ("device", "mountpoint", "fstype", "options")}
        self._fs = FsAgent.create(self.resource, {**given, "write_test": False})
        # The engine reads the timeouts of the bound agent: this resource's own.
        vars(self)["timeouts"] = Timeouts(start=start_timeout_s(self.values["mmp_wait_s"]),
                                          stop=self.timeouts.stop, status=self.timeouts.status,
                                          monitor=self.timeouts.monitor)

    @property
    def _device(self) -> str:
        return str(self.values["device"])

    @property
    def _allowance_s(self) -> float:
        return float(self.values["mmp_wait_s"] or DEFAULT_MMP_WAIT_S)

    def devices(self) -> tuple[str, ...]:
        return (self._device,)

    # -- start / stop ------------------------------------------------------------------
    async def start(self) -> AgentResult:
        if (await self._fs.status()).ok:
            return success("already mounted")
        before = await self._read_mmp()
        refusal = self._mmp_refusal(before)
        if refusal is not None:
            return refusal
        started = time.monotonic()
        result = await self._fs.start()
        if not result.ok:
            after = await self._read_mmp()
            holder = f" (MMP: {_holder(after)})" if after.get("state") == "in use" else ""
            return AgentResult(result.code, result.message + holder)
        took = time.monotonic() - started
        waited = (f" after {took:.1f} s of MMP wait (last holder {before.get('holder')})"
                  if before.get("state") == "in use" else "")
        return success(result.message + waited)

    def _mmp_refusal(self, report: dict[str, Any]) -> AgentResult | None:
        """Why the MMP block forbids mounting now (None: go ahead)."""
        if "error" in report:
            return failure(report["error"])
        state = report.get("state")
        if state == "fsck":
            return failure(f"{self._device} is being checked ({_holder(report)}): "
                           f"refusing to mount it")
        needed = float(report.get("mount_wait_s", 0))
        if state == "in use" and needed > self._allowance_s:
            return failure(f"the MMP block of {self._device} is not clean ({_holder(report)}): "
                           f"a mount may wait up to {needed:g} s, more than the "
                           f"{self._allowance_s:g} s this resource allows: set mmp_wait_s = "
                           f"{needed:g}", OcfCode.ERR_CONFIGURED)
        return None

    async def _read_mmp(self) -> dict[str, Any]:
        """The device's MMP report (see tandem.hpc.lustre.mmp), read by a helper process
        so that a hung disk costs a bounded wait; {} when there is nothing to go by (no
        MMP, not ext4/ldiskfs such as a ZFS target, unreadable: mount will tell)."""
        if not self._device.startswith("/"):
            return {}
        argv = [sys.executable, "-m", "tandem.hpc.lustre.mmp", self._device, "--json"]
        try:
            done = await run_command(argv, timeout_s=MMP_READ_TIMEOUT_S)
        except CommandTimeout:
            return {"error": f"the MMP block of {self._device} could not be read within "
                             f"{MMP_READ_TIMEOUT_S:g} s (storage not answering?)"}
        except CommandError:
            return {}
        if done.returncode != 0 or not done.stdout.strip():
            return {}
        try:
            report: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            return {}
        return report

    async def stop(self) -> AgentResult:
        return await self._fs.stop()

    # -- status / monitor --------------------------------------------------------------
    async def status(self) -> AgentResult:
        return await self._fs.status()

    async def monitor(self) -> AgentResult:
        mounted = await self.status()
        if not mounted.ok:
            return mounted
        return await self.health()

    async def health(self) -> AgentResult:
        """Lustre's own health check of this node's servers (`healthy` or not)."""
        try:
            done = await _lctl(["get_param", "-n", "health_check"], HEALTH_TIMEOUT_S)
        except CommandTimeout:
            return failure(f"lctl get_param health_check did not answer within "
                           f"{HEALTH_TIMEOUT_S:g} s (Lustre servers of this node hung?)")
        except CommandError as exc:
            return failure(f"lctl get_param health_check: {exc}", OcfCode.ERR_INSTALLED)
        said = " | ".join(line.strip() for line in done.stdout.splitlines() if line.strip())
        if not done.ok:
            return failure(f"lctl get_param health_check failed: {done.tail()}")
        if said != "healthy":
            return failure(f"Lustre health_check says {said or 'nothing'!r} "
                           f"({self.values['target']} on {self._device})")
        return success("healthy")

    async def recovery(self) -> RecoveryStatus | None:
        """The target's client recovery (None for the MGS); CommandError if lctl does not
        answer."""
        param = recovery_param(self.values["target"])
        if param is None:
            return None
        done = await _lctl(["get_param", "-n", param], LCTL_TIMEOUT_S)
        if not done.ok:
            raise CommandError(f"lctl get_param {param}: {done.tail()}")
        return parse_recovery_status(done.stdout)


def _holder(report: dict[str, Any]) -> str:
    return (f"last written by {report.get('holder') or '?'} through "
            f"{report.get('holder_device') or '?'}, {report.get('age_s', '?')} s ago")


async def _lctl(args: list[str], timeout_s: float) -> CommandResult:
    return await run_command([LCTL, *args], timeout_s=timeout_s)

