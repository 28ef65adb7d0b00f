"""Build the fence device object for a configured device type."""

from __future__ import annotations

from tandem.config.model import FenceDeviceDef
from tandem.fencing.base import FenceConfigError, FenceDevice
from tandem.fencing.external import ExternalDevice
from tandem.fencing.ipmi import IpmiDevice
from tandem.fencing.ipmishell import IpmiSessions
from tandem.fencing.manual import ManualAcks, ManualDevice


def make_device(definition: FenceDeviceDef, acks: ManualAcks,
                sessions: IpmiSessions | None = None) -> FenceDevice:
    """The device for `definition`; FenceConfigError for an unusable definition.
    `sessions`: the daemon's kept IPMI sessions (none: every command sets one up)."""
    if definition.type == "ipmi":
        return IpmiDevice(definition, sessions=sessions)
    if definition.type == "external":
        return ExternalDevice(definition)
    if definition.type == "manual":
        return ManualDevice(definition, acks)
    raise FenceConfigError(f"fence device {definition.name!r}: unknown type "
                           f"{definition.type!r}")
