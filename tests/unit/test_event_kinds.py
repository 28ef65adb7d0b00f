"""Event kinds are an enum: every event the code adds names a member, every member is
added somewhere, and the strings already in events files and scripts keep their meaning."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import tandem
from tandem.common.events import RESOURCE_KINDS, EventKind
from tandem.daemon.events import EventLog

SRC = Path(tandem.__file__).parent

# Every kind a timeline held before the enum existed (events files, bench, scripts).
WRITTEN_BEFORE = {
    "daemon_start", "daemon_stop", "paused", "node", "ring", "quorum", "coordinator",
    "unblock", "fence_start", "fence_done", "fence_failed", "fence_ack", "fence_deferred",
    "fence_device_ok", "fence_device_failed", "service", "request", "local_service",
    "probe", "service_started", "service_failed", "service_stopped", "stop_failed",
    "resource_start", "resource_stop", "monitor_failed", "config", "config_push",
    "config_refused",
}


def _is_events_add(call: ast.Call) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "add"):
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "events") or \
        (isinstance(owner, ast.Name) and owner.id == "events")


def _kinds(node: ast.expr, local: dict[str, list[ast.expr]], where: str) -> set[EventKind]:
    """The kinds an expression given to `events.add` can be; fails on anything that is
    not built from EventKind members (a plain or formatted string above all)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "EventKind":
        return {EventKind[node.attr]}
    if isinstance(node, ast.IfExp):
        return _kinds(node.body, local, where) | _kinds(node.orelse, local, where)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
            and node.value.id == "RESOURCE_KINDS":
        return set(RESOURCE_KINDS.values())
    if isinstance(node, ast.Name) and node.id in local:
        return set().union(*(_kinds(v, local, where) for v in local[node.id]))
    pytest.fail(f"{where}: event kind {ast.unparse(node)!r} is not an EventKind")


def _assignments(func: ast.AST) -> dict[str, list[ast.expr]]:
    found: dict[str, list[ast.expr]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
    return found


def emitted() -> Iterator[tuple[str, set[EventKind]]]:
    """(file:line, kinds) for every `events.add(...)` in the package."""
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            local = _assignments(func)
            for call in ast.walk(func):
                if isinstance(call, ast.Call) and _is_events_add(call):
                    where = f"{path.relative_to(SRC)}:{call.lineno}"
                    assert call.args, f"{where}: events.add without a kind"
                    yield where, _kinds(call.args[0], local, where)


def test_every_event_added_names_a_kind_and_every_kind_is_added() -> None:
    sites = list(emitted())
    assert len(sites) >= 25  # the scan does find the call sites
    used = set().union(*(kinds for _, kinds in sites))
    assert used == set(EventKind), f"never added: {sorted(set(EventKind) - used)}"


def test_the_strings_already_written_keep_their_meaning() -> None:
    assert {kind.value for kind in EventKind} >= WRITTEN_BEFORE
    assert all(kind.name.lower() == kind.value for kind in EventKind)
    assert {action: str(kind) for action, kind in RESOURCE_KINDS.items()} == \
        {"start": "resource_start", "stop": "resource_stop"}


def test_a_kind_is_written_and_shown_as_its_string(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    event = log.add(EventKind.FENCE_DONE, node="n2", detail="power off")
    log.close()
    assert json.loads(path.read_text())["kind"] == "fence_done"
    assert " fence_done " in event.line() and "EventKind" not in event.line()
    assert event.kind == "fence_done"  # readers comparing strings keep working
