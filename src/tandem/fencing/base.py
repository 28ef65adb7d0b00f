"""The fence device interface, its errors, and how a device finds the node to fence.

A fence device only knows how to act on one power supply; deciding when an action counts
as a fence (the status must read off afterwards) is the runner's job, so devices stay
small and every device type is verified the same way.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from tandem.common.errors import TandemError
from tandem.config.model import DEFAULT_IPMI_PORT, FenceDeviceDef, NodeDef


class PowerState(enum.StrEnum):
    """What a fence device reports about a node's power."""

    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class FenceError(TandemError):
    """A fence action failed; the message is one line, fit for logs and status."""

    kind = "error"


class FenceTimeout(FenceError):
    """The action did not finish in time (its processes were killed)."""

    kind = "timeout"


class FenceAuthError(FenceError):
    """The device refused our credentials."""

    kind = "auth"


class FenceUnreachable(FenceError):
    """The device did not answer at all."""

    kind = "unreachable"


class FenceAgentError(FenceError):
    """The device or agent answered but the action failed."""

    kind = "agent"


class FenceConfigError(FenceError):
    """The device cannot be used as configured (missing address, unreadable password)."""

    kind = "config"


@dataclass(frozen=True)
class FenceTarget:
    """The node to fence and how to reach its power control through one device.

    `address`, `port`, `user` and `password` come from the device definition when it
    sets them, otherwise from the node's `[nodes.bmc]`.
    """

    node: str
    address: str | None = None
    port: int = DEFAULT_IPMI_PORT
    user: str | None = None
    password: str | None = field(default=None, repr=False)


class FenceDevice(ABC):
    """One way of cutting a node's power (a BMC, a fence agent, an operator)."""

    def __init__(self, definition: FenceDeviceDef) -> None:
        self.definition = definition

    @property
    def name(self) -> str:
        """The device's name in the configuration."""
        return self.definition.name

    @abstractmethod
    async def off(self, target: FenceTarget) -> None:
        """Ask for the power to be cut; success here is not yet a confirmed fence."""

    @abstractmethod
    async def status(self, target: FenceTarget) -> PowerState:
        """Read the power state."""

    @abstractmethod
    async def on(self, target: FenceTarget) -> None:
        """Restore power (used by operators to unfence a node)."""


def read_password_file(path: str, base_dir: Path | None = None) -> str:
    """The secret in `path` (relative paths are taken from `base_dir`), trailing newline
    removed; FenceConfigError when it cannot be read."""
    file = Path(path)
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    try:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise FenceConfigError(f"cannot read password file {file}: {exc.strerror}") from exc


def resolve_target(node: NodeDef, device: FenceDeviceDef,
                   base_dir: Path | None = None) -> FenceTarget:
    """Combine the node's BMC with the device definition (device fields win).

    A manual device needs nothing but the node's name, so it never fails here: an
    unreadable BMC password file must not also block the operator's last resort.
    """
    if device.type == "manual":
        return FenceTarget(node=node.name)
    bmc = node.bmc
    if device.password is not None:
        password: str | None = device.password
    elif device.password_file is not None:
        password = read_password_file(device.password_file, base_dir)
    elif bmc is not None and bmc.password is not None:
        password = bmc.password
    elif bmc is not None and bmc.password_file is not None:
        password = read_password_file(bmc.password_file, base_dir)
    else:
        password = None
    return FenceTarget(
        node=node.name,
        address=device.address or (bmc.address if bmc else None),
        port=device.port or (bmc.port if bmc else DEFAULT_IPMI_PORT),
        user=device.user or (bmc.user if bmc else None),
        password=password,
    )
