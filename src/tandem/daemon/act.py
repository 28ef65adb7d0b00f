"""Act: carry out the actions of one decision. The only caller of `Fencer.start` and of
the local services' operations; nothing here decides."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tandem.manager.actions import (
    Action,
    Adopt,
    CancelFences,
    DelegateFence,
    Fence,
    Publish,
    RecordIntent,
    Recover,
    RefuseFence,
    Restart,
    Start,
    Stop,
)
from tandem.wire import MsgType, dump_json

if TYPE_CHECKING:
    from tandem.daemon.engine import Engine

log = logging.getLogger("tandemd.act")


def act(engine: Engine, actions: list[Action]) -> bool:
    """Carry out `actions` in order; True if what this node publishes to its peers
    (placement, notes, intents) changed."""
    published = False
    for action in actions:
        match action:
            case Fence(node_id=node, reason=reason, request=request):
                task = engine.fencer.start(node, reason)
                if request:
                    engine.fence_requests.started(request, task)
            case DelegateFence(node_id=node, to=to, reason=reason):
                if engine.net is not None:
                    engine.net.send(MsgType.REQUEST, dump_json(
                        {"op": "fence", "node": node, "reason": reason}), [to])
            case RefuseFence(node_id=node, request=request, why=why):
                log.info("fence of %s refused: %s", engine.ids.get(node, node), why)
                engine.fence_requests.refused(request, why)
            case CancelFences():
                engine.fencer.cancel_all()
            case Publish(placement=placement, notes=notes):
                published |= engine.store.publish(placement, notes)
            case RecordIntent(service=service, intent=intent):
                engine.store.set_intent(service, intent)
                engine.local_services.frozen = engine.store.frozen
                published = True
            case Start() | Recover() | Restart() | Stop() | Adopt():
                engine.local_services.carry_out(action)
    return published
