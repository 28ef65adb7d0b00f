"""Fencing: cut a node's power through its BMC, a fence agent or an operator, level by
level, and count it only once the power status reads off."""

from tandem.fencing.base import (
    FenceAgentError,
    FenceAuthError,
    FenceConfigError,
    FenceDevice,
    FenceError,
    FenceTarget,
    FenceTimeout,
    FenceUnreachable,
    PowerState,
    resolve_target,
)
from tandem.fencing.devices import make_device
from tandem.fencing.external import ExternalDevice
from tandem.fencing.history import FenceAttempt, FenceHistory, FenceHistoryError
from tandem.fencing.ipmi import IpmiDevice
from tandem.fencing.manual import ManualAcks, ManualDevice
from tandem.fencing.runner import FenceResult, fence_node

__all__ = [
    "ExternalDevice",
    "FenceAgentError",
    "FenceAttempt",
    "FenceAuthError",
    "FenceConfigError",
    "FenceDevice",
    "FenceError",
    "FenceHistory",
    "FenceHistoryError",
    "FenceResult",
    "FenceTarget",
    "FenceTimeout",
    "FenceUnreachable",
    "IpmiDevice",
    "ManualAcks",
    "ManualDevice",
    "PowerState",
    "fence_node",
    "make_device",
    "resolve_target",
]
