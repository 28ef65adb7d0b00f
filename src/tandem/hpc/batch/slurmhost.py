"""What the `slurmctld` agent checks on the node before and after it starts the
controller: the state directory, munge, and what `scontrol ping` says about this host.

Each check returns a one-line problem (or None), so that the agent's failure says what an
administrator has to fix, not just "start failed".
"""

from __future__ import annotations

import os
import pwd
import re
import socket
from pathlib import Path

from tandem.hpc.batch.slurmconf import ControllerHost, SlurmConf
from tandem.util.procrun import CommandError, run_command

MUNGE_TIMEOUT_S = 5.0
PING_LINE_RE = re.compile(r"Slurmctld\(([^)]*)\) at (\S+) is (UP|DOWN)")


def short_hostname() -> str:
    """The name slurmctld compares with SlurmctldHost (`hostname -s`)."""
    return socket.gethostname().split(".")[0]


def controller_index(conf: SlurmConf, host: str) -> int | None:
    """This host's place among the controllers (0: the primary), None if not listed.
    Slurm accepts the short or the long name."""
    for index, controller in enumerate(conf.controllers):
        if controller.name == host or controller.name.split(".")[0] == host:
            return index
    return None


def state_dir_problem(path: str, user: str, mountpoint: str = "") -> str | None:
    """Why the controller must not start on the state directory `path`, if it must not.

    The directory has to be on the disk the cell moves (else the peer starts with an empty
    state and every job is lost): it must not be on the root file system's device, and if
    `mountpoint` is given, that must be a mount point holding it. Slurm writes its state as
    SlurmUser, so the directory must be that user's and writable."""
    state = Path(path)
    if not state.is_dir():
        return f"StateSaveLocation {path} is not a directory here (is the state disk mounted?)"
    return _placement_problem(state, mountpoint) or _owner_problem(state, user)


def _placement_problem(state: Path, mountpoint: str) -> str | None:
    if mountpoint:
        if not os.path.ismount(mountpoint):
            return f"{mountpoint} is not mounted: StateSaveLocation {state} would not be " \
                   f"on the state disk (the fs resource must come before slurmctld)"
        disk = Path(mountpoint).resolve()
        if state.resolve() != disk and disk not in state.resolve().parents:
            return f"StateSaveLocation {state} is not under the state disk's mount point " \
                   f"{mountpoint}"
    if state.stat().st_dev == Path("/").stat().st_dev:
        return f"StateSaveLocation {state} is on the root file system, not on a disk the " \
               f"cell moves: mount the state disk (an fs resource before slurmctld)"
    if os.statvfs(state).f_flag & os.ST_RDONLY:
        return f"StateSaveLocation {state} is on a read-only file system"
    return None


def _owner_problem(state: Path, user: str) -> str | None:
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return f"SlurmUser {user} does not exist on this node"
    info = state.stat()
    if info.st_uid != account.pw_uid:
        return f"StateSaveLocation {state} belongs to uid {info.st_uid}, not to SlurmUser " \
               f"{user} (uid {account.pw_uid}): chown -R {user} {state}"
    if not info.st_mode & 0o200:
        return f"StateSaveLocation {state} is not writable by its owner {user}"
    return None


async def munge_problem(munge: str = "munge", unmunge: str = "unmunge") -> str | None:
    """Whether a credential made here decodes here (`munge -n | unmunge`): without a
    working munged with the cluster's key, slurmctld starts but nobody can talk to it."""
    try:
        made = await run_command([munge, "-n"], timeout_s=MUNGE_TIMEOUT_S)
        if not made.ok:
            return f"munge -n failed ({made.tail()}): is munged running?"
        read = await run_command([unmunge], stdin=made.stdout.encode(),
                                 timeout_s=MUNGE_TIMEOUT_S)
    except CommandError as exc:
        return f"munge check failed: {exc}"
    if not read.ok:
        return f"unmunge refused a credential made here ({read.tail()}): check munge.key"
    return None


def ping_states(output: str) -> dict[str, str]:
    """`scontrol ping` output as host -> "UP" or "DOWN"."""
    return {host: state for _role, host, state in PING_LINE_RE.findall(output)}


def describe(controllers: tuple[ControllerHost, ...]) -> str:
    return ", ".join(c.text for c in controllers)
