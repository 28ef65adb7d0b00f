"""What a node claims in each heartbeat beyond "I am alive": its members, whether it is
quorate, the fences it confirmed, and where it stands on the quorum disk.

Peers act on these claims (a fence a peer confirmed frees what the fenced node held; a
member that gave up its quorum-disk vote is fenced), so they are parsed strictly into a
frozen type: a malformed field reads as "no claim", never as a wrong one. The wire keys are
short because the claims ride in every heartbeat; they are only spelled here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# node id -> (its incarnation when it was fenced, when: the fencer's monotonic seconds)
FenceRecords = Mapping[int, tuple[int | None, float]]


@dataclass(frozen=True)
class HeartbeatClaims:
    """The claims of one heartbeat."""

    members: frozenset[int] = frozenset()
    quorate: bool = False
    withdrawn: bool = False  # its quorum-disk heuristics fail: it gave up its vote
    gave_up: bool = False  # ... after they had passed: it may hold services, fence it
    fenced: FenceRecords = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The heartbeat's `x` object."""
        return {"m": sorted(self.members), "q": self.quorate,
                "f": {str(n): [inc, at] for n, (inc, at) in sorted(self.fenced.items())},
                "w": self.withdrawn, "g": self.gave_up}

    @classmethod
    def from_wire(cls, extra: Mapping[str, Any]) -> HeartbeatClaims:
        """Read the claims of a verified heartbeat; unreadable parts are dropped."""
        members = extra.get("m", [])
        fenced = extra.get("f", {})
        return cls(
            members=frozenset(m for m in members if _is_int(m))
            if isinstance(members, list) else frozenset(),
            quorate=extra.get("q") is True, withdrawn=extra.get("w") is True,
            gave_up=extra.get("g") is True,
            fenced=_fence_records(fenced) if isinstance(fenced, dict) else {})


@dataclass(frozen=True)
class PeerClaims:
    """The latest claims heard from one peer, with its configuration version."""

    claims: HeartbeatClaims = HeartbeatClaims()
    config_version: int = 0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fence_records(raw: Mapping[Any, Any]) -> dict[int, tuple[int | None, float]]:
    found: dict[int, tuple[int | None, float]] = {}
    for key, value in raw.items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(value, list)
                and len(value) == 2):
            continue
        incarnation, at = value
        if (incarnation is None or _is_int(incarnation)) and isinstance(at, int | float) \
                and not isinstance(at, bool):
            found[int(key)] = (incarnation, float(at))
    return found
