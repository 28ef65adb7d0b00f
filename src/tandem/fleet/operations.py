"""The operations over cells: configure (what a push would change), push, start, stop,
status and check, on the selected members of the selected cells.

Each one asks the source for the cells, checks what it must before anything is sent
(push and configure: every selected cell's configuration loads and matches the cell,
and with --with-key every key and every password file it names is readable), fans one
command out per cell, and reads the answers into an Outcome. Status also records,
through the source, where each cell's services run; a source that cannot keep it makes
a one-line note in the outcome and the answers are shown all the same.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tandem.common.errors import TandemError
from tandem.config import ClusterConfig, parse_config
from tandem.fleet import remote
from tandem.fleet.changes import change_verdict, plain_verdict
from tandem.fleet.errors import FleetError
from tandem.fleet.keys import cell_key
from tandem.fleet.nodesets import selected_members
from tandem.fleet.payload import make_payload
from tandem.fleet.report import CellOutcome, NodeOutcome, Outcome
from tandem.fleet.secrets import read_secrets
from tandem.fleet.settings import FleetSettings
from tandem.fleet.source import CellSource, CellTarget, NodeTarget, Selection
from tandem.fleet.transport import Done, Job, NodeResult, Transport
from tandem.fleet.verdicts import cell_verdict, locations, node_verdict

TIMEOUTS_S = {"configure": 30.0, "push": 60.0, "start": 120.0, "stop": 120.0,
              "status": 30.0, "check": 30.0}
COMMANDS = {"start": remote.START, "stop": remote.STOP, "check": remote.CHECK}


class Progress(Protocol):
    """Told how many nodes an operation waits for, then of each answer."""

    def begin(self, total: int) -> None:
        ...

    def done(self, result: NodeResult) -> None:
        ...


@dataclass(frozen=True)
class Plan:
    """A selected cell: its target, its configuration (when it loads) and the members
    the operation acts on."""

    target: CellTarget
    config: ClusterConfig | None
    members: tuple[NodeTarget, ...]


class Fleet:
    """The operations, over one source and one transport."""

    def __init__(self, source: CellSource, transport: Transport, settings: FleetSettings,
                 *, timeout: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.transport = transport
        self.settings = settings
        self.timeout = timeout
        self.clock = clock

    # -- operations -----------------------------------------------------------------
    def status(self, selection: Selection, progress: Progress | None = None) -> Outcome:
        started = time.monotonic()
        plans = self.plans(selection, strict=False)
        timings = {"source": time.monotonic() - started}
        results = self._fan_out("status", plans, remote.STATUS, progress, timings)
        mark = time.monotonic()
        cells = []
        for plan in plans:
            verdicts = [node_verdict(plan.target, results[n.name]) for n in plan.members]
            statuses = [status for _, status in verdicts if status is not None]
            cells.append(cell_verdict(plan.target, plan.config,
                                      [outcome for outcome, _ in verdicts], statuses))
        timings["fold"] = time.monotonic() - mark
        outcome = Outcome("status", cells, timings)
        mark = time.monotonic()
        outcome.record_error = self._record(cells)
        timings["record"] = time.monotonic() - mark
        return outcome

    def configure(self, selection: Selection, progress: Progress | None = None, *,
                  diff: bool = False, qdisk: bool | None = None) -> Outcome:
        plans = self.plans(selection, strict=True, qdisk=qdisk)
        results = self._fan_out("configure", plans, remote.READ_CONFIG, progress, {})
        cells = [self._cell(plan, [change_verdict(plan.target, results[n.name], diff=diff)
                                   for n in plan.members], _configure_state)
                 for plan in plans]
        return Outcome("configure", cells)

    def push(self, selection: Selection, progress: Progress | None = None, *,
             with_key: bool = False, qdisk: bool | None = None) -> Outcome:
        plans = self.plans(selection, strict=True, qdisk=qdisk)
        keys = {p.target.name: cell_key(self.settings.key_dir, p.target.name)
                for p in plans} if with_key else {}
        secrets = {p.target.name: read_secrets(p.config) for p in plans
                   if p.config is not None} if with_key else {}
        payloads = {p.target.name: make_payload(p.target.name, p.target.config_text or "",
                                                keys.get(p.target.name),
                                                secrets.get(p.target.name)).encode()
                    for p in plans}
        results = self._fan_out("push", plans, remote.INSTALL, progress, {},
                                stdin=lambda plan: payloads[plan.target.name])
        return self._plain("push", plans, results, failed="refused")

    def command(self, operation: str, selection: Selection,
                progress: Progress | None = None) -> Outcome:
        """start, stop or check on the selected members."""
        plans = self.plans(selection, strict=False)
        results = self._fan_out(operation, plans, COMMANDS[operation], progress, {})
        return self._plain(operation, plans, results, failed="failed")

    # -- steps ----------------------------------------------------------------------
    def plans(self, selection: Selection, *, strict: bool,
              qdisk: bool | None = None) -> list[Plan]:
        """The selected cells with their selected members. `strict`: every
        configuration must load and match its cell (FleetError naming the first that
        does not); otherwise a broken one only leaves `config` None."""
        targets = self.source.targets(selection)
        members = selected_members(targets, selection)
        plans = [Plan(t, checked_config(t) if strict else _lenient(t), members[t.name])
                 for t in targets if t.name in members]
        if qdisk is not None:
            for plan in plans:
                _check_qdisk(plan, qdisk)
        return plans

    def _fan_out(self, operation: str, plans: Sequence[Plan], command: str,
                 progress: Progress | None, timings: dict[str, float], *,
                 stdin: Callable[[Plan], bytes] | None = None) -> dict[str, NodeResult]:
        line = remote.on_path(command, self.settings.remote_path)
        timeout = self.timeout or TIMEOUTS_S[operation]
        jobs = [Job({n.name: n.address for n in plan.members}, line,
                    stdin(plan) if stdin else None, timeout) for plan in plans]
        done: Done | None = None
        if progress is not None:
            progress.begin(sum(len(job.nodes) for job in jobs))
            done = progress.done
        mark = time.monotonic()
        results = self.transport.run(jobs, done)
        timings["fanout"] = time.monotonic() - mark
        return results

    def _plain(self, operation: str, plans: Sequence[Plan],
               results: dict[str, NodeResult], *, failed: str) -> Outcome:
        cells = [self._cell(plan, [plain_verdict(results[n.name], failed=failed)
                                   for n in plan.members], _plain_state)
                 for plan in plans]
        return Outcome(operation, cells)

    @staticmethod
    def _cell(plan: Plan, nodes: list[NodeOutcome],
              summary: Callable[[Sequence[NodeOutcome]], str]) -> CellOutcome:
        return CellOutcome(plan.target.name, plan.target.kind, summary(nodes),
                           plan.target.config_version, tuple(nodes))

    def _record(self, cells: Sequence[CellOutcome]) -> str:
        """Record where services run in the cells that answered (one write for all);
        the error's line when that fails."""
        seen = {cell.name: locations(cell) for cell in cells if cell.seen_by is not None}
        if not seen:
            return ""
        try:
            self.source.record(seen, self.clock())
        except TandemError as exc:
            return f"where services run was not recorded: {exc}"
        return ""


def checked_config(target: CellTarget) -> ClusterConfig:
    """`target`'s configuration, loaded and matched against the cell; FleetError (or
    the loader's ConfigError) in one line otherwise."""
    text = target.config_text
    if text is None:
        raise FleetError(f"cell {target.name}: no configuration was generated for it")
    if target.config_hash and hashlib.sha256(text.encode()).hexdigest() != target.config_hash:
        raise FleetError(f"cell {target.name}: its configuration does not match its "
                         f"sha256 at the source")
    config = parse_config(text, f"configuration of cell {target.name}")
    members = [n.name for n in target.nodes]
    named = [n.name for n in config.nodes]
    if config.name != target.name:
        raise FleetError(f"cell {target.name}: its configuration names cluster "
                         f"{config.name}")
    if sorted(named) != sorted(members):
        raise FleetError(f"cell {target.name}: its configuration has nodes "
                         f"{', '.join(named)}, the cell has {', '.join(members)}")
    if config.config_version != target.config_version:
        raise FleetError(f"cell {target.name}: its configuration says version "
                         f"{config.config_version}, the source {target.config_version}")
    return config


def _lenient(target: CellTarget) -> ClusterConfig | None:
    try:
        return checked_config(target)
    except TandemError:
        return None


def _check_qdisk(plan: Plan, wanted: bool) -> None:
    """stordepha's -q: with it every cell must have a quorum disk, without it none."""
    from tandem.quorum.qdisk.config import QdiskDef

    assert plan.config is not None
    has = plan.config.section(QdiskDef) is not None
    if has and not wanted:
        raise FleetError(f"cell {plan.target.name} has a quorum disk: add -q")
    if wanted and not has:
        raise FleetError(f"cell {plan.target.name} has no quorum disk ([qdisk]): drop -q")


def _reach(nodes: Sequence[NodeOutcome]) -> str:
    """"unreachable" (no member answered), "partial" (some did not) or ""."""
    missing = sum(1 for n in nodes if n.state == "unreachable")
    return "" if not missing else "unreachable" if missing == len(nodes) else "partial"


def _configure_state(nodes: Sequence[NodeOutcome]) -> str:
    states = {n.state for n in nodes}
    if _reach(nodes) or "refused" in states:
        return _reach(nodes) or "refused"
    return "up to date" if states == {"up to date"} else "would change"


def _plain_state(nodes: Sequence[NodeOutcome]) -> str:
    if all(n.ok for n in nodes):
        return "ok"
    return _reach(nodes) or "failed"

