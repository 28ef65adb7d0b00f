"""One measured event (a failover or a relocation) and how the client saw it."""

from __future__ import annotations

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
    overlap_ms: float | None = None  # the same outage seen by the overlapping probe
    healthy_fenced: bool = False
    victim_fenced: bool | None = None
    data_kept: bool | None = None
    breakdown: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    diagnosis: str | None = None  # the stack's state when the cell did not come back

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("outage_ms", "overlap_ms"):
            if data[key] is not None:
                data[key] = round(data[key], 1)
        data["fault_at"] = round(self.fault_at, 3)
        return data


def answer_after_outage(samples: list[Sample], fault_at: float) -> Sample | None:
    """The client's first answer after its first failure after the fault (None yet).
    Answers in between the fault and that failure come from the old owner while its
    power is being cut (killing a node's processes takes a few milliseconds)."""
    after = [s for s in samples if s.at > fault_at]
    first_failure = next((i for i, s in enumerate(after) if not s.ok), None)
    if first_failure is None:
        return None
    return next((s for s in after[first_failure:] if s.ok), None)


def client_gap_ms(samples: list[Sample], since: float) -> float | None:
    """Longest time the client went without an answer around an event that began at
    wall time `since`: from its last answer before its first failure to its next answer
    (0 if it never failed; None if it never got an answer again)."""
    after = [s for s in samples if s.at > since]
    first_failure = next((i for i, s in enumerate(after) if not s.ok), None)
    if first_failure is None:
        return 0.0 if after else None
    before_ok = [s.at for s in samples if s.ok and s.at < after[first_failure].at]
    start = before_ok[-1] if before_ok else since
    for sample in after[first_failure:]:
        if sample.ok:
            return (sample.at - start) * 1000
    return None
