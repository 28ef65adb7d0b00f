"""How long the engine's loop may sleep: never past the moment a peer would go stale
(loss detection on time), whatever the safety tick; the slower 1 s tick only when the
cell is at rest. The engine is stood in for by the few attributes these methods read."""

from __future__ import annotations

import threading
from types import SimpleNamespace as NS
from typing import Any

import pytest

from tandem.daemon.engine import REST_TICK_S, SAFETY_TICK_S, Engine
from tandem.membership.ledger import NodeState

NOW = 1000.0


def engine(*, expiry: float | None, rest: bool | None = None, quorate: bool = True,
           fencing: bool = False, node_state: NodeState = NodeState.ONLINE) -> Any:
    fake: Any = NS(config=NS(timing=NS(heartbeat_ms=150), services=()), lock=threading.Lock(),
              detector=NS(next_expiry=lambda now: expiry),
              cell=NS(quorum=NS(quorate=quorate)), fencer=NS(running={2: 0} if fencing else {}),
              local_services=NS(busy=False), pacing=NS(dirty=False),
              store=NS(placement_known=True), started=0.0, startup_grace_s=5.0,
              ledger=NS(records={1: NS(state=NodeState.ONLINE, since=0.0),
                                 2: NS(state=node_state, since=0.0)}))
    fake.at_rest = (lambda now: rest) if rest is not None else \
        (lambda now: Engine.at_rest(fake, now))
    return fake


@pytest.mark.parametrize("rest", [True, False])
def test_a_peer_about_to_go_stale_wakes_the_loop_at_rest_or_not(rest: bool) -> None:
    assert Engine.sleep_for(engine(expiry=NOW + 0.3, rest=rest), NOW) == pytest.approx(0.301)
    assert Engine.sleep_for(engine(expiry=NOW - 1, rest=rest), NOW) == pytest.approx(0.001)


def test_the_tick_is_slower_only_at_rest() -> None:
    assert Engine.sleep_for(engine(expiry=None, rest=True), NOW) == REST_TICK_S
    assert Engine.sleep_for(engine(expiry=None, rest=False), NOW) == SAFETY_TICK_S


def test_not_at_rest_while_anything_can_become_due_by_the_clock() -> None:
    assert Engine.at_rest(engine(expiry=None), NOW)
    assert not Engine.at_rest(engine(expiry=None, quorate=False), NOW)
    assert not Engine.at_rest(engine(expiry=None, fencing=True), NOW)
    assert not Engine.at_rest(engine(expiry=None, node_state=NodeState.LOST), NOW)
    assert not Engine.at_rest(engine(expiry=None), 3.0)  # inside the startup grace
