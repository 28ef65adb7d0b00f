"""What the decision core asks the daemon to do: plain, frozen data, compared in tests.

Every change the daemon makes to the cell (power a node off, start or stop a service
here, publish where services run) is one of these, returned by `decide()` and carried out
by the daemon's actuator. Nothing else starts a fence or a service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem.manager.model import Assignment, Intent

# -- fencing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fence:
    """Fence a node (power it off and confirm it reads off)."""

    node_id: int
    reason: str
    request: int = 0  # the fence request it answers (0: decided by the core itself)


@dataclass(frozen=True)
class DelegateFence:
    """Ask peer `to` to fence `node_id` (a node cannot fence itself)."""

    node_id: int
    to: int
    reason: str


@dataclass(frozen=True)
class RefuseFence:
    """Answer a fence request (an operator's or a peer's) with a refusal."""

    node_id: int
    request: int
    why: str


@dataclass(frozen=True)
class CancelFences:
    """Stop every fence this node runs (it lost quorum)."""

    reason: str


# -- the coordinator's publications ---------------------------------------------------------


@dataclass(frozen=True)
class Publish:
    """The coordinator's placement and notes after a round (shared with every member)."""

    placement: Mapping[str, Assignment]
    notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordIntent:
    """A new intent decided by policy (a service disabled after a failure)."""

    service: str
    intent: Intent


# -- the local node's services -----------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Start `service` here for assignment generation `gen`."""

    service: str
    gen: int


@dataclass(frozen=True)
class Recover:
    """Start again here a service that failed here (the coordinator's new generation)."""

    service: str
    gen: int


@dataclass(frozen=True)
class Restart:
    """Stop then start a running service (an operator's restart: a newer generation)."""

    service: str
    gen: int


@dataclass(frozen=True)
class Stop:
    """Stop `service` here."""

    service: str
    reason: str


@dataclass(frozen=True)
class Adopt:
    """A service found running at start-up is the one assigned here: keep it, monitor it."""

    service: str
    gen: int


FenceAction = Fence | DelegateFence | RefuseFence | CancelFences
ServiceAction = Start | Recover | Restart | Stop | Adopt
Action = FenceAction | Publish | RecordIntent | ServiceAction


def describe(action: Action, names: Mapping[int, str]) -> str:
    """One short line per action, for the cycle's status and the log."""
    def name(node: int) -> str:
        return names.get(node, str(node))

    match action:
        case Fence(node_id=node, reason=reason):
            text = f"fence {name(node)} ({reason})"
        case DelegateFence(node_id=node, to=to):
            text = f"ask {name(to)} to fence {name(node)}"
        case RefuseFence(node_id=node, why=why):
            text = f"refuse to fence {name(node)} ({why})"
        case CancelFences(reason=reason):
            text = f"cancel fences ({reason})"
        case Publish(placement=placement):
            text = f"publish placement of {len(placement)} service(s)"
        case RecordIntent(service=service):
            text = f"record intent for {service}"
        case Stop(service=service, reason=reason):
            text = f"stop {service} ({reason})"
        case _:
            text = f"{type(action).__name__.lower()} {action.service}"
    return text
