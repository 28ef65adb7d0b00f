"""Operators' service requests (`clusvcadm`, `tandem svc`) turned into intents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tandem.config.model import ServiceDef
from tandem.manager.model import Intent
from tandem.manager.placement import CELL_LOCK, effective_intent

ACTIONS = ("enable", "disable", "relocate", "restart", "freeze", "unfreeze", "stop")
CELL_ACTIONS = ("lock", "unlock")  # the cell's own intent, not a service's


def lock_intent(intents: Mapping[str, Intent], locked: bool, origin: int) -> Intent:
    """The cell's next intent after `clusvcadm -l` (locked) or `-u`."""
    return intents.get(CELL_LOCK, Intent()).bump(origin, enabled=not locked)


def request_intent(svc: ServiceDef, action: str, node: str | None, *, origin: int,
                   intents: Mapping[str, Intent], node_ids: Mapping[str, int],
                   owner: int | None, members: frozenset[int] = frozenset()) -> Intent:
    """The next intent for `svc` after an operator's `action` (to `node`); ValueError
    for an unknown action or node, or a node outside a restricted domain. A stop notes
    the `members` of the moment: the service stays stopped until they change."""
    if action not in ACTIONS:
        raise ValueError(f"unknown service action {action!r}")
    if node is not None:
        if node not in node_ids:
            raise ValueError(f"unknown node {node!r} (known: {', '.join(node_ids)})")
        if svc.domain.restricted and svc.domain.priority(node) is None:
            raise ValueError(f"{node} is outside the restricted domain of {svc.name} "
                             f"({', '.join(n for n, _ in svc.domain.nodes)})")
    intent = effective_intent(svc, intents)
    choices: dict[str, dict[str, Any]] = {
        "enable": {"enabled": True, "frozen": False, "target": node, "stopped": None},
        "disable": {"enabled": False, "target": None, "stopped": None},
        "relocate": {"enabled": True, "target": node, "stopped": None},
        "restart": {"restart": intent.restart + 1},
        "freeze": {"frozen": True},
        "unfreeze": {"frozen": False},
        "stop": {"enabled": True, "target": None, "stopped": frozenset(members)},
    }
    changes = choices[action]
    if action == "relocate" and node is None:
        changes["target"] = other_node(svc, node_ids, owner)
    return intent.bump(origin, **changes)


def other_node(svc: ServiceDef, node_ids: Mapping[str, int], current: int | None) -> str:
    """Where a relocation without a target goes: the most preferred other node."""
    for name, _ in sorted(svc.domain.nodes, key=lambda x: x[1]):
        if node_ids[name] != current:
            return str(name)
    for name, node in node_ids.items():
        if node != current and not svc.domain.restricted:
            return name
    raise ValueError(f"no other node to relocate {svc.name} to")
