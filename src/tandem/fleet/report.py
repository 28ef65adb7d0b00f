"""What an operation over cells found: per node, per cell, and overall, as data (the
command line draws tables or prints JSON from it), and the folding of identical
answers into node sets, as `clubak -c` does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tandem.fleet.nodesets import fold


@dataclass(frozen=True)
class NodeOutcome:
    """One selected node: a state word of the operation, whether that counts as
    success, and what it said (one line, or a diff for `configure --diff`)."""

    node: str
    state: str
    ok: bool
    detail: str = ""
    config_version: int | None = None
    services: tuple[str, ...] = ()  # what it runs (status)


@dataclass(frozen=True)
class ServiceView:
    """Where a service of a cell runs, and where it would rather run."""

    name: str
    state: str
    owner: str | None
    home: str | None  # first node of its failover domain (None: no preference)

    @property
    def migrated(self) -> bool:
        return self.owner is not None and self.home is not None and self.owner != self.home


@dataclass(frozen=True)
class CellOutcome:
    """One cell: its selected members' outcomes and (status) its services."""

    name: str
    kind: str
    state: str
    config_version: int
    nodes: tuple[NodeOutcome, ...]
    services: tuple[ServiceView, ...] = ()
    seen_by: str | None = None  # the member whose view of the services is shown

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "state": self.state,
                "config_version": self.config_version, "seen_by": self.seen_by,
                "nodes": [vars(n) | {"services": list(n.services)} for n in self.nodes],
                "services": [vars(s) | {"migrated": s.migrated} for s in self.services]}


@dataclass
class Outcome:
    """The whole operation."""

    operation: str
    cells: list[CellOutcome]
    timings: dict[str, float] = field(default_factory=dict)
    record_error: str = ""

    @property
    def failed(self) -> list[NodeOutcome]:
        return [n for c in self.cells for n in c.nodes if not n.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def failure_line(self) -> str:
        """One line naming the nodes that did not answer or did not succeed."""
        failed = self.failed
        total = sum(len(c.nodes) for c in self.cells)
        groups = fold_by([(n.node, n.state) for n in failed])
        named = "; ".join(f"{nodes} {state}" for nodes, state in groups)
        return f"{len(failed)} of {total} nodes did not answer or failed: {named}"

    def to_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "ok": self.ok,
                "failed": fold(n.node for n in self.failed),
                "record_error": self.record_error,
                "timings": {k: round(v, 4) for k, v in self.timings.items()},
                "cells": [c.to_json() for c in self.cells]}


def fold_by(answers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(node set, answer) for each distinct answer among (node, answer) pairs, in the
    order of each answer's first node."""
    nodes: dict[str, list[str]] = {}
    for node, answer in answers:
        nodes.setdefault(answer, []).append(node)
    return [(fold(names), answer) for answer, names in nodes.items()]


def fold_nodes(outcomes: Iterable[NodeOutcome]) -> list[tuple[str, NodeOutcome]]:
    """Node outcomes folded by identical state, detail, version and services: (node
    set, one of them)."""
    groups: dict[tuple[str, str, int | None, tuple[str, ...]], list[NodeOutcome]] = {}
    for outcome in outcomes:
        key = (outcome.state, outcome.detail, outcome.config_version, outcome.services)
        groups.setdefault(key, []).append(outcome)
    return [(fold(o.node for o in members), members[0]) for members in groups.values()]
