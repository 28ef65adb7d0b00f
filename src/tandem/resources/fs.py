"""`fs`: a file system on shared storage, mounted where the service runs.

Start refuses to mount a device that is already mounted elsewhere in this node (one
mount per device is the rule on shared storage). Stop releases the device, with the
busy-unmount escalation of `tandem.resources.unmount`. Status checks the mount, that it
has not turned read-only (ext4 does so after I/O errors) and that it takes a small
synchronous write, in a helper process with a deadline, so that hung storage gives a
failure rather than a hung agent.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass

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
from tandem.resources.mounts import Mount, device_released, mounts, mounts_of
from tandem.resources.registry import register
from tandem.resources.unmount import COMMAND_CAP_S, Escalation, unmount
from tandem.system.blockdev import device_number
from tandem.util.procrun import CommandError, CommandResult, CommandTimeout, run_command

FSCK_OK = (0, 1)  # no errors, or errors corrected
RELEASE_CHECKS = 5
RELEASE_PAUSE_S = 0.05
MAX_MOUNTS = 16  # bound on the mounts of one device that a stop takes down
PROBE_SCRIPT = 'dd if=/dev/zero of="$1" bs=4096 count=1 oflag=dsync status=none && rm -f "$1"'


@dataclass(frozen=True)
class Survey:
    """Where the device and the mount point stand in this node's mount table."""

    mine: list[Mount]        # the device at our mount point
    elsewhere: list[Mount]   # the device (a block device) at other mount points
    occupant: Mount | None   # something else on our mount point


@register
class FsAgent(ResourceAgent):
    """Mount a device on a mount point; unmount with escalation."""

    name = "fs"
    summary = "mount a shared file system (fsck, mount; unmount with kill escalation)"
    params = (
        ParamSpec("device", "string", required=True,
                  description="block device (or network source such as server:/export)"),
        ParamSpec("mountpoint", "string", required=True,
                  description="absolute directory, created if missing"),
        ParamSpec("fstype", "string", default="auto", description="file system type"),
        ParamSpec("options", "string", default="", description="mount options (-o)"),
        ParamSpec("fsck", "boolean", default=False, description="run fsck -p before mounting"),
        ParamSpec("force_unmount", "boolean", default=True,
                  description="when busy, SIGTERM then SIGKILL the processes using the mount"),
        ParamSpec("kill_rounds", "integer", default=3,
                  description="rounds of SIGTERM, then of SIGKILL, each followed by an unmount"),
        ParamSpec("kill_wait_s", "float", default=2.0,
                  description="how long the processes get to exit after each signal"),
        ParamSpec("lazy_unmount", "boolean", default=True,
                  description="last resort: detach the mount lazily (umount -l); a stop "
                              "still fails if the device stays in use"),
        ParamSpec("write_test", "boolean", default=True,
                  description="status also checks that a small synchronous write succeeds"),
        ParamSpec("probe_timeout_s", "float", default=5.0,
                  description="the write test fails if it takes longer (hung storage)"),
    )
    timeouts = Timeouts(start=60, stop=60, status=10, monitor=20)

    def validate(self) -> None:
        where = str(self.values["mountpoint"])
        if not where.startswith("/") or os.path.normpath(where) == "/":
            raise ParamError(self.resource, "mountpoint", "must be an absolute directory other "
                                                          "than /")
        for key in ("device", "mountpoint", "fstype", "options"):
            if re.search(r"\s", self.values[key]):
                raise ParamError(self.resource, key, "must not contain white space")
        if not self.values["device"]:
            raise ParamError(self.resource, "device", "must not be empty")
        if not 0 <= self.values["kill_rounds"] <= 20:
            raise ParamError(self.resource, "kill_rounds", "must be between 0 and 20")
        if self.values["kill_wait_s"] < 0 or self.values["probe_timeout_s"] <= 0:
            raise ParamError(self.resource, "kill_wait_s", "times must be positive")

    @property
    def _where(self) -> str:
        return os.path.normpath(str(self.values["mountpoint"]))

    @property
    def _device(self) -> str:
        return str(self.values["device"])

    def devices(self) -> tuple[str, ...]:
        return (self._device,) if self._device.startswith("/dev/") else ()

    def _survey(self) -> Survey:
        table = mounts()
        at_point = [m for m in table if m.mountpoint == self._where]
        if device_number(self._device) is None:  # network or virtual source: by text
            mine = [m for m in at_point if m.source == self._device]
            elsewhere: list[Mount] = []
        else:
            of_device = mounts_of(self._device, table)
            mine = [m for m in of_device if m.mountpoint == self._where]
            elsewhere = [m for m in of_device if m.mountpoint != self._where]
        occupant = at_point[-1] if at_point and at_point[-1] not in mine else None
        return Survey(mine, elsewhere, occupant)

    # -- start -------------------------------------------------------------------------------
    def _before_mount(self) -> AgentResult | None:
        """Why not to mount now: already mounted (success) or a refusal; None to go on."""
        survey = self._survey()
        if survey.mine and survey.occupant is None:
            return success("already mounted")
        if survey.elsewhere:
            return failure(f"{self._device} is already mounted at "
                           f"{', '.join(m.mountpoint for m in survey.elsewhere)} in this "
                           f"node: refusing to mount it twice")
        if survey.occupant is not None:
            return failure(f"{survey.occupant.source} is mounted on {self._where}")
        if self._device.startswith("/") and not os.path.exists(self._device):
            return failure(f"no device {self._device} on this node", OcfCode.ERR_INSTALLED)
        return None

    async def start(self) -> AgentResult:
        early = await asyncio.to_thread(self._before_mount)
        if early is not None:
            return early
        if self.values["fsck"]:
            checked = await _run(["fsck", "-p", self._device])
            if checked.returncode not in FSCK_OK:
                return failure(f"fsck of {self._device} failed (exit {checked.returncode}): "
                               f"{checked.tail()}")
        await asyncio.to_thread(os.makedirs, self._where, exist_ok=True)
        argv = ["mount", "-t", self.values["fstype"]]
        if self.values["options"]:
            argv += ["-o", self.values["options"]]
        done = await _run([*argv, self._device, self._where])
        if not done.ok:
            return failure(f"mount of {self._device} on {self._where} failed: {done.tail()}")
        return success(f"mounted {self._device} on {self._where}" +
                       (" after fsck" if self.values["fsck"] else ""))

    # -- stop --------------------------------------------------------------------------------
    @property
    def _escalation(self) -> Escalation:
        return Escalation(signal_users=self.values["force_unmount"],
                          rounds=self.values["kill_rounds"],
                          wait_s=self.values["kill_wait_s"],
                          lazy=self.values["lazy_unmount"])

    async def stop(self) -> AgentResult:
        """Release the device: every mount of it in this node (one mount per device)."""
        notes: list[str] = []
        lazy = unmounted = False
        for _ in range(MAX_MOUNTS):
            survey = await asyncio.to_thread(self._survey)
            targets = survey.mine + survey.elsewhere
            if not targets:
                break
            report = await unmount(targets[-1].mountpoint, self._device, self._escalation)
            if not report.ok:
                return failure(f"cannot unmount {report.summary()}")
            unmounted = True
            lazy |= report.lazy
            if report.steps != ["unmounted"]:
                notes.append(report.summary())
        else:
            return failure(f"{self._device} is still mounted after {MAX_MOUNTS} unmounts")
        if unmounted and not await self._released():
            # Gone from our mount table, yet the file system lives on: a mount namespace
            # we cannot see into (a container) or a detached mount still holds it. Another
            # node mounting it now would be a double mount: this stop failed.
            return failure(f"{self._device} was unmounted here but the file system is still "
                           f"in use on this node (another mount namespace?)")
        if lazy:
            return success("LAZY unmount: " + " | ".join(notes))
        return success(" | ".join(notes) if notes else "not mounted")

    async def _released(self) -> bool:
        for _ in range(RELEASE_CHECKS):
            if await asyncio.to_thread(device_released, self._device):
                return True
            await asyncio.sleep(RELEASE_PAUSE_S)
        return False

    # -- status ------------------------------------------------------------------------------
    async def status(self) -> AgentResult:
        survey = await asyncio.to_thread(self._survey)
        if not survey.mine:
            if survey.elsewhere:
                return failure(f"{self._device} is mounted at {survey.elsewhere[0].mountpoint}"
                               f", not at {self._where}")
            return not_running()
        if survey.occupant is not None:
            return failure(f"{self._where} is covered by another mount "
                           f"({survey.occupant.source})")
        wants_ro = "ro" in self.values["options"].split(",")
        if survey.mine[-1].read_only and not wants_ro:
            return failure(f"{self._where} has turned read-only (I/O errors?)")
        if self.values["write_test"] and not wants_ro:
            return await self._write_probe()
        return success()

    async def _write_probe(self) -> AgentResult:
        probe = os.path.join(self._where, f".tandem-probe.{self.resource}.{os.getpid()}")
        limit = self.values["probe_timeout_s"]
        try:
            done = await run_command(["sh", "-c", PROBE_SCRIPT, "probe", probe],
                                     timeout_s=limit)
        except CommandTimeout:
            return failure(f"write test on {self._where} did not finish within {limit:g} s "
                           f"(storage not answering?)")
        except CommandError as exc:
            return failure(f"write test on {self._where}: {exc}")
        if not done.ok:
            return failure(f"write test on {self._where} failed: {done.tail()}")
        return success()


async def _run(argv: list[str]) -> CommandResult:
    """A helper command; a failure to run it is a failed result, not an exception."""
    try:
        return await run_command(argv, timeout_s=COMMAND_CAP_S)
    except CommandError as exc:
        return CommandResult(127, "", str(exc), 0.0)
