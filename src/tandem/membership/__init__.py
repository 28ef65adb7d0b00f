"""Membership: heartbeats, failure detection, real-time footing of the heartbeat loop."""

from tandem.membership.detector import (
    FailureDetector,
    MembershipError,
    MembershipView,
    PeerView,
    RingState,
)
from tandem.membership.heartbeat import (
    HeartbeatPayload,
    HeartbeatSender,
    HeartbeatStats,
    record_heartbeat,
)
from tandem.membership.rt import RealtimeReport, lock_memory, set_fifo, try_realtime

__all__ = [
    "FailureDetector",
    "HeartbeatPayload",
    "HeartbeatSender",
    "HeartbeatStats",
    "MembershipError",
    "MembershipView",
    "PeerView",
    "RealtimeReport",
    "RingState",
    "lock_memory",
    "record_heartbeat",
    "set_fifo",
    "try_realtime",
]
