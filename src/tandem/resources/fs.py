"""`fs`: a file system on shared storage, mounted where the service runs.

Stopping follows the escalation the field has long used: a plain unmount; if the mount
is busy, ask the processes using it to stop (SIGTERM), then kill them (SIGKILL),
unmounting again after each round, a bounded number of times; as a last resort a lazy
unmount, reported as such. Only processes of this node's mount namespace that really
use the mount are ever signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid

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
from tandem.resources.mounts import mounted_at, mounts_of, users_of
from tandem.resources.registry import register
from tandem.util.procrun import CommandError, CommandResult, run_command

FSCK_OK = (0, 1)  # no errors, or errors corrected


@register
class FsAgent(ResourceAgent):
    """Mount a device on a mount point; unmount with escalation."""

    name = "fs"
    summary = "mount a shared file system (fsck, mount; unmount with kill escalation)"
    params = (
        ParamSpec("device", "string", required=True, description="block device or source"),
        ParamSpec("mountpoint", "string", required=True, description="absolute directory"),
        ParamSpec("fstype", "string", default="auto", description="file system type"),
        ParamSpec("options", "string", default="", description="mount options"),
        ParamSpec("fsck", "boolean", default=False, description="run fsck -p before mounting"),
        ParamSpec("force_unmount", "boolean", default=True,
                  description="signal the processes that keep the mount busy"),
        ParamSpec("kill_rounds", "integer", default=3,
                  description="rounds of SIGTERM/SIGKILL before the lazy unmount"),
        ParamSpec("term_wait_s", "float", default=1.0,
                  description="how long processes get to exit after SIGTERM"),
        ParamSpec("lazy_unmount", "boolean", default=True,
                  description="last resort: detach the mount lazily (umount -l)"),
        ParamSpec("write_test", "boolean", default=True,
                  description="status also checks the file system accepts a write"),
    )
    timeouts = Timeouts(start=60, stop=60, status=10, monitor=20)

    def validate(self) -> None:
        if not str(self.values["mountpoint"]).startswith("/") or self.values["mountpoint"] == "/":
            raise ParamError(self.resource, "mountpoint", "must be an absolute directory other "
                                                          "than /")
        if self.values["kill_rounds"] < 0:
            raise ParamError(self.resource, "kill_rounds", "must be >= 0")

    @property
    def _where(self) -> str:
        return os.path.normpath(str(self.values["mountpoint"]))

    def _is_mounted(self) -> bool:
        mount = mounted_at(self._where)
        return mount is not None and any(m.mountpoint == self._where
                                         for m in mounts_of(self.values["device"]))

    async def start(self) -> AgentResult:
        if self._is_mounted():
            return success("already mounted")
        elsewhere = [m.mountpoint for m in mounts_of(self.values["device"])]
        if elsewhere:
            return failure(f"{self.values['device']} is already mounted at "
                           f"{', '.join(elsewhere)}")
        if self.values["fsck"]:
            checked = await self._run(["fsck", "-p", self.values["device"]],
                                      self.timeouts.start)
            if checked.returncode not in FSCK_OK:
                return failure(f"fsck of {self.values['device']} failed "
                               f"({checked.returncode}): {checked.tail()}")
        os.makedirs(self._where, exist_ok=True)
        argv = ["mount", "-t", self.values["fstype"]]
        if self.values["options"]:
            argv += ["-o", self.values["options"]]
        done = await self._run([*argv, self.values["device"], self._where],
                               self.timeouts.start)
        if done.returncode != 0:
            code = OcfCode.ERR_INSTALLED if done.returncode == 32 and "does not exist" \
                in done.stderr else OcfCode.ERR_GENERIC
            return failure(f"mount failed: {done.tail()}", code)
        return success()

    async def _run(self, argv: list[str], timeout: float) -> CommandResult:
        try:
            return await run_command(argv, timeout_s=timeout)
        except CommandError as exc:
            return CommandResult(127, "", str(exc), 0.0)

    async def _umount(self, *extra: str) -> bool:
        done = await self._run(["umount", *extra, self._where], 30.0)
        return done.returncode == 0 or not self._is_mounted()

    async def stop(self) -> AgentResult:
        if not self._is_mounted():
            return success("not mounted")
        if await self._umount():
            return success()
        if not self.values["force_unmount"]:
            return failure(f"{self._where} is busy and force_unmount is off")
        for round_ in range(self.values["kill_rounds"]):
            for sig, wait in ((signal.SIGTERM, self.values["term_wait_s"]),
                              (signal.SIGKILL, 0.5)):
                victims = users_of(self._where)
                if not victims:
                    break
                for pid in victims:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                await asyncio.sleep(wait)
            if await self._umount():
                return success(f"unmounted after signalling its users (round {round_ + 1})")
        if self.values["lazy_unmount"] and await self._umount("-l"):
            return success("LAZY unmount: the mount was detached while still busy")
        return failure(f"{self._where} stays busy (users: {users_of(self._where)[:5]})")

    async def status(self) -> AgentResult:
        if not self._is_mounted():
            return not_running()
        if not self.values["write_test"] or "ro" in self.values["options"].split(","):
            return success()
        try:
            await asyncio.wait_for(asyncio.to_thread(self._write_probe), 5.0)
        except TimeoutError:
            return failure(f"write test on {self._where} hung for 5 s")
        except OSError as exc:
            return failure(f"write test on {self._where} failed: {exc.strerror or exc}")
        return success()

    def _write_probe(self) -> None:
        probe = os.path.join(self._where, f".tandem-probe-{uuid.uuid4().hex[:8]}")
        with open(probe, "w") as handle:
            handle.write("ok")
            handle.flush()
            os.fsync(handle.fileno())
        os.unlink(probe)
