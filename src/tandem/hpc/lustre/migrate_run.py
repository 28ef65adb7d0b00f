"""`lustre_migrate`'s commands over the cells, from the management node: which Lustre
nodes a `-n NODESET|all` names, what their cells answer (`tandem status --json` on
every member, through the fleet's transport), and the service requests a command
makes (`tandem svc ACTION lustre_N --node M` on a member of the cell, which waits for
the outcome there), then what the cells say afterwards.

Where the services run is recorded through the source each time the cells are asked
(the inventory keeps each target's active node from it, as the manual's failover
tools kept the Cluster DB current). The decisions are tandem.hpc.lustre.migrate's.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tandem.common.errors import EXIT_USAGE, TandemError
from tandem.common.status import CellStatus
from tandem.fleet import remote
from tandem.fleet.nodesets import fold, selected_members
from tandem.fleet.operations import Progress, checked_config
from tandem.fleet.settings import FleetSettings
from tandem.fleet.source import CellSource, CellTarget, Selection, ServiceLocation
from tandem.fleet.transport import Job, NodeResult, Transport
from tandem.fleet.verdicts import node_verdict
from tandem.hpc.lustre.migrate import (
    CellView,
    LustreNode,
    NodeStatus,
    Request,
    Step,
    lustre_nodes,
    node_status,
    plan,
    rounds,
    unknown_status,
)
from tandem.hpc.lustre.services import LUSTRE_CELL, service_name

STATUS_TIMEOUT_S = 30.0
WAIT_S = 300.0  # how long a node waits for one request's outcome (tandem svc --timeout)
SLACK_S = 30.0  # on top of it, before the management node gives up on the node

Say = Callable[[str], None]


class MigrateError(TandemError):
    """A node set that names no Lustre node, or a node without a lustre_ service: bad
    input (exit 2), nothing sent."""

    exit_code = EXIT_USAGE


@dataclass
class Survey:
    """The selected Lustre nodes, the other Lustre nodes of their cells (their peers),
    what each cell answered, and the members of cells whose services are unknown."""

    targets: dict[str, CellTarget]
    nodes: list[LustreNode]
    peers: list[LustreNode]
    views: dict[str, CellView] = field(default_factory=dict)
    broken: list[NodeStatus] = field(default_factory=list)
    record_error: str = ""

    def statuses(self, nodes: Sequence[LustreNode] | None = None) -> list[NodeStatus]:
        """The pair status of `nodes` (the selected ones by default), then the broken."""
        chosen = self.nodes if nodes is None else nodes
        return [node_status(n, self.views[n.cell]) for n in chosen] + \
            (self.broken if nodes is None else [])

    def peer_statuses(self) -> list[NodeStatus]:
        return self.statuses(self.peers)


@dataclass(frozen=True)
class Outcome:
    """How a command's step for one node ended, and the node's status afterwards."""

    step: Step
    result: str  # done, nothing to do, refused, failed, not sent
    detail: str
    now: NodeStatus | None = None

    @property
    def ok(self) -> bool:
        return self.result in ("done", "nothing to do")

    def to_json(self) -> dict[str, Any]:
        return self.step.to_json() | {"result": self.result, "detail": self.detail,
                                      "now": self.now.to_json() if self.now else None}


def selection_of(nodeset: str) -> Selection:
    """`-n all` or `-n NODESET`."""
    if nodeset.strip() == "all":
        return Selection(all=True)
    if not nodeset.strip():
        raise MigrateError("-n: give a node set (io[1-4]) or all")
    return Selection(include=nodeset)


class Migrate:
    """The commands, over one source and one transport."""

    def __init__(self, source: CellSource, transport: Transport, settings: FleetSettings,
                 *, status_timeout: float | None = None, wait: float = WAIT_S,
                 say: Say | None = None, progress: Progress | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.source = source
        self.transport = transport
        self.settings = settings
        self.status_timeout = status_timeout or STATUS_TIMEOUT_S
        self.wait = wait
        self.say = say or (lambda _: None)
        self.progress = progress
        self.clock = clock

    # -- what the cells say -----------------------------------------------------------
    def survey(self, nodeset: str) -> Survey:
        """The Lustre nodes `nodeset` names and what their cells answer."""
        survey = self.select(nodeset)
        self.look(survey)
        return survey

    def select(self, nodeset: str) -> Survey:
        """The Lustre nodes `nodeset` names, before their cells are asked; MigrateError
        (or the source's SelectionError) for a node set that names none, or a node
        without a lustre_ service."""
        selection = selection_of(nodeset)
        targets = self.source.targets(selection)
        chosen = selected_members(targets, selection)
        survey = Survey({}, [], [])
        for target in targets:
            if target.name in chosen:
                _add_cell(survey, target, [n.name for n in chosen[target.name]],
                          selection.all)
        if not survey.nodes and not survey.broken:
            raise MigrateError(f"-n {nodeset}: no cell there has a lustre_<node> service")
        return survey

    def look(self, survey: Survey) -> None:
        """Ask every member of the survey's cells for its status; record where the
        services run."""
        concerned = {n.cell for n in survey.nodes}
        targets = [t for name, t in survey.targets.items() if name in concerned]
        jobs = [Job({n.name: n.address for n in t.nodes},
                    remote.on_path(remote.STATUS, self.settings.remote_path), None,
                    self.status_timeout) for t in targets]
        results = self._run(jobs)
        for target in targets:
            survey.views[target.name] = cell_view(target, results)
        survey.record_error = self._record(survey.views.values())

    def _run(self, jobs: Sequence[Job]) -> dict[str, NodeResult]:
        if self.progress is not None:
            self.progress.begin(sum(len(job.nodes) for job in jobs))
        return self.transport.run(jobs, self.progress.done if self.progress else None)

    def _record(self, views: Iterable[CellView]) -> str:
        seen = {v.cell: [ServiceLocation(s.name, s.owner, s.state)
                         for s in v.status.services] for v in views if v.status}
        if not seen:
            return ""
        try:
            self.source.record(seen, self.clock())
        except TandemError as exc:
            return f"where services run was not recorded: {exc}"
        return ""

    # -- the commands -----------------------------------------------------------------
    def act(self, command: str, nodeset: str, *,
            force: bool = False) -> tuple[list[Outcome], Survey]:
        """Run `command` for the nodes of `nodeset`: each step's outcome, with each
        node's status afterwards, and the survey it was decided on."""
        if command == "export" and nodeset.strip() == "all":
            raise MigrateError("export -n all would swap every pair: name the nodes to "
                               "empty")
        survey = self.select(nodeset)
        if command == "export":
            chosen = {n.node for n in survey.nodes}
            both = [n.node for n in survey.nodes if n.peer in chosen]
            if both:
                raise MigrateError(f"export -n: {fold(both)} are each other's peers: "
                                   f"exporting both would swap them")
        self.look(survey)
        steps = [plan(command, n, survey.views[n.cell], force=force) for n in survey.nodes]
        steps += [Step(b.node, b.cell, b.service, None, True, b.detail)
                  for b in survey.broken]
        refused = [s for s in steps if s.refused]
        if command == "hastart" and not force and refused:
            why = f"nothing sent: {fold(s.node for s in refused)} refused"
            return [Outcome(s, "refused", s.detail) if s.refused else
                    Outcome(s, "not sent", why) for s in steps], survey
        ended = self.send(command, survey, [s.request for s in steps if s.request])
        if command == "hastart" and force:
            ended = self._fall_back(survey, steps, ended)
        self.look(survey)
        now = {s.node: s for s in survey.statuses()}
        return [_outcome(s, ended, now.get(s.node)) for s in steps], survey

    def send(self, command: str, survey: Survey,
             requests: Sequence[Request]) -> dict[str, NodeResult]:
        """Send the requests, in rounds; service name -> what its member answered."""
        ended: dict[str, NodeResult] = {}
        batches = rounds(requests)
        for number, batch in enumerate(batches, 1):
            self.say(f"{command}: round {number} of {len(batches)}: "
                     + ", ".join(_describe(r) for r in batch)
                     + f" (each waits up to {self.wait:g} s)")
            jobs = [Job({r.via: self._address(survey, r)}, self._line(r), None,
                        self.wait + SLACK_S) for r in batch]
            results = self._run(jobs)
            ended.update({r.service: results[r.via] for r in batch})
        return ended

    def _fall_back(self, survey: Survey, steps: Sequence[Step],
                   ended: dict[str, NodeResult]) -> dict[str, NodeResult]:
        """hastart --force: a service that did not start on its node goes to its peer,
        unless the cell has already started it somewhere (a failed start powers the
        node off and the cell moves the service itself)."""
        failed = [s for s in steps if s.request and s.request.target == s.node
                  and ended[s.service].rc != 0]
        if not failed:
            return ended
        self.look(survey)
        retry = []
        for step in failed:
            lnode = next(n for n in survey.nodes if n.node == step.node)
            view = survey.views[lnode.cell]
            svc = view.status.service(lnode.service) if view.status else None
            if svc is not None and svc.state == "started":
                ended[step.service] = NodeResult(step.node, 0, f"{step.service}: started "
                                                               f"on {svc.owner}")
            elif view.up(lnode.peer):
                assert lnode.peer is not None
                retry.append(Request("enable", lnode.service, lnode.peer, lnode.peer))
        if retry:
            ended.update(self.send("hastart --force", survey, retry))
        return ended

    def _line(self, request: Request) -> str:
        words = ["tandem", "svc", request.action, request.service]
        if request.target:
            words += ["--node", request.target]
        words += ["--timeout", f"{self.wait:g}"]
        return remote.on_path(shlex.join(words), self.settings.remote_path)

    @staticmethod
    def _address(survey: Survey, request: Request) -> str:
        for target in survey.targets.values():
            for node in target.nodes:
                if node.name == request.via:
                    return node.address
        return request.via


def _add_cell(survey: Survey, target: CellTarget, chosen: list[str], everything: bool) -> None:
    """The cell's Lustre nodes among `chosen`; an explicit node without a lustre_
    service is a MigrateError."""
    try:
        config = checked_config(target)
    except TandemError as exc:
        if everything and target.kind != LUSTRE_CELL:
            return
        survey.broken += [unknown_status(n, target.name, f"configuration of cell "
                                                         f"{target.name}: {exc}")
                          for n in chosen]
        return
    found = lustre_nodes(target.name, config)
    names = {n.node for n in found}
    missing = [n for n in chosen if n not in names]
    if missing and not everything:
        raise MigrateError(f"-n: {fold(missing)} of cell {target.name}: no "
                           f"{service_name(missing[0])} service (a node has one when it "
                           f"is the primary of a Lustre target)")
    if not found:
        return
    survey.targets[target.name] = target
    survey.nodes += [n for n in found if n.node in chosen]
    survey.peers += [n for n in found if n.node not in chosen]


def cell_view(target: CellTarget, results: Mapping[str, NodeResult]) -> CellView:
    """The cell as a quorate member sees it (the coordinator first); with none, why."""
    outcomes = [node_verdict(target, results[n.name]) for n in target.nodes
                if n.name in results]
    statuses: list[CellStatus] = [s for _, s in outcomes if s is not None]
    reached = tuple(s.local for s in statuses)
    quorate = [s for s in statuses if s.quorate]
    chosen = next((s for s in quorate if s.coordinator == s.local),
                  quorate[0] if quorate else None)
    if chosen is not None:
        return CellView(target.name, chosen, reached)
    if statuses:
        problem = "not quorate: " + "; ".join(f"{s.local}: {s.quorum.reason}"
                                              for s in statuses)
    else:
        problem = "no member gave its status: " + "; ".join(
            f"{o.node} {o.state} ({o.detail})" if o.detail else f"{o.node} {o.state}"
            for o, _ in outcomes)
    return CellView(target.name, None, reached, problem)


def _describe(request: Request) -> str:
    if request.action == "disable":
        return f"stop {request.service}"
    if request.action == "enable":
        return f"start {request.service} on {request.target}"
    return f"move {request.service} to {request.target}"


def _outcome(step: Step, ended: Mapping[str, NodeResult], now: NodeStatus | None) -> Outcome:
    if step.refused:
        return Outcome(step, "refused", step.detail, now)
    if step.request is None:
        return Outcome(step, "nothing to do", step.detail, now)
    result = ended.get(step.service)
    if result is None:
        return Outcome(step, "failed", "no answer", now)
    if result.rc == 0:
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        return Outcome(step, "done", lines[-1] if lines else step.detail, now)
    reason = result.reason if result.reached else f"{result.node}: {result.reason}"
    return Outcome(step, "failed", reason, now)
