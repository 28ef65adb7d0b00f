"""What operators ask the daemon through its control socket: fence a node, acknowledge
a manual fence, lift wait-for-all, act on a service, push a configuration.

A fence is only requested here: it is decided like every other fence, in the next cycle
(refused without quorum, for the local node, or for a node without fence levels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tandem.common.events import EventKind
from tandem.daemon.services.requests import CELL_ACTIONS, lock_intent, request_intent
from tandem.manager.model import Intent
from tandem.manager.placement import CELL_LOCK, cell_locked
from tandem.system.blockdev import resolve_device

if TYPE_CHECKING:
    from tandem.daemon.engine import Engine

OPERATOR = 0  # the origin of an operator's fence request


class Operator:
    """The operator's API of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def node_id(self, name: str) -> int:
        for node_id, node_name in self.engine.ids.items():
            if node_name == name:
                return node_id
        raise ValueError(f"unknown node {name!r} "
                         f"(known: {', '.join(self.engine.ids.values())})")

    async def fence(self, name: str) -> dict[str, Any]:
        """Fence `name` now; waits for the outcome (ValueError if refused or failed)."""
        engine = self.engine
        node_id = self.node_id(name)
        request = engine.fence_requests.add(node_id, OPERATOR, "requested by an operator")
        outcome = engine.fence_requests.wait(request)
        engine.wake.set()
        result = await outcome
        if result is None:
            raise ValueError(f"fencing {name} failed (see tandem events)")
        return {"node": name, "success": result.success, "message": result.message,
                "duration_ms": result.duration_ms}

    def fence_ack(self, name: str) -> str:
        return self.engine.fencer.acknowledge(self.node_id(name))

    def unblock(self) -> str:
        """Operator override of wait-for-all."""
        engine = self.engine
        engine.cell.unblocked = True
        engine.events.add(EventKind.UNBLOCK, node=engine.local.name,
                          detail="operator lifted wait-for-all")
        engine.wake.set()
        return "wait-for-all lifted on this node"

    def storage_error(self, device: str, detail: str) -> dict[str, Any]:
        """A watcher's report of back-end I/O errors on `device` (a path, a kernel name
        or MAJOR:MINOR): the services here that stand on it move to a peer."""
        number = resolve_device(device)
        if number is None:
            raise ValueError(f"no block device {device!r} on {self.engine.local.name}")
        why = f"reported on {device}" + (f": {detail}" if detail else "")
        services = self.engine.local_services.storage_error(number, why)
        return {"node": self.engine.local.name, "device": device,
                "number": f"{number[0]}:{number[1]}", "services": services}

    def service(self, service: str, action: str, node: str | None) -> str:
        """Record an operator's service request as a new intent and tell every peer
        (`lock` and `unlock` are the cell's: `service` is not read)."""
        engine = self.engine
        if action in CELL_ACTIONS:
            return self.lock(action == "lock")
        svc = engine.config.service(service)  # KeyError names the known services
        intent = request_intent(svc, action, node, origin=engine.local.id,
                                intents=engine.store.intents,
                                node_ids={n: i for i, n in engine.ids.items()},
                                owner=engine.display.owner(service),
                                members=engine.view.members if engine.view else frozenset())
        self._record(service, intent)
        engine.events.add(EventKind.REQUEST, service=service, node=node,
                          detail=f"{action}" + (f" to {node}" if node else ""))
        return f"{action} of {service} requested"

    def lock(self, locked: bool) -> str:
        """Lock the cell for a whole-cell shutdown (no service starts anywhere, stops go
        on) or unlock it; an intent like any other, so every node and the next
        coordinator hold it."""
        engine = self.engine
        if cell_locked(engine.store.intents) != locked:
            self._record(CELL_LOCK, lock_intent(engine.store.intents, locked,
                                                engine.local.id))
            engine.events.add(EventKind.REQUEST, node=engine.local.name,
                              detail="cell locked" if locked else "cell unlocked")
        return "Resource groups locked" if locked else "Resource groups unlocked"

    def _record(self, key: str, intent: Intent) -> None:
        engine = self.engine
        engine.store.set_intent(key, intent)
        engine.local_services.frozen = engine.store.frozen
        engine.pacing.mark()
        engine.state_changed()

    def push_config(self, text: str) -> dict[str, Any]:
        return self.engine.messages.push_config(text)
