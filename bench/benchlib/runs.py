"""One measured event (a failover or a relocation) and how the client saw it."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from tandem.lab.probe import Sample


@dataclass
class Run:
    """What one failover or relocation looked like from the client and the lab."""

    outage_ms: float | None
    from_node: str
    to_node: str | None
    fault_at: float = 0.0
    healthy_fenced: bool = False
    victim_fenced: bool | None = None
    data_kept: bool | None = None
    breakdown: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    diagnosis: str | None = None  # the stack's state when the cell did not come back

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.outage_ms is not None:
            data["outage_ms"] = round(self.outage_ms, 1)
        data["fault_at"] = round(self.fault_at, 3)
        return data


def client_gap_ms(samples: list[Sample], since: float, until: float) -> float | None:
    """Longest time the client went without an answer between its last answer before
    `since` and `until` (wall times). The client starts a request every 10 ms, so with
    the service up answers arrive ~10 ms apart; that is the figure's floor. Answers are
    taken in the order they arrived, so requests stuck on a dead owner (which fail
    late, on their timeout) do not hide the answers that came back meanwhile."""
    answers = sorted(s.at for s in samples if s.ok)
    before = [t for t in answers if t <= since]
    window = [before[-1] if before else since, *(t for t in answers if since < t <= until)]
    if len(window) < 2:
        return None
    return max(b - a for a, b in itertools.pairwise(window)) * 1000
