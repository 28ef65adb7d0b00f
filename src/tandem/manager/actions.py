"""What the decision core asks the daemon to do. Plain data, compared in tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fence:
    """Fence a node (power it off and confirm)."""

    node_id: int
    reason: str


Action = Fence
