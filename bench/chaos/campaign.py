"""The reliability campaign: a seeded random sequence of faults on lab cells, with the
split-brain watch, the holder watch and the record client running throughout; last, if
asked, a 2-node cell whose only service is HA_NFS, with an NFS client writing through
one file handle instead of the record client.

For every fault: inject it, let it last if it has a duration, wait (bounded) until every
service it disrupted is started again and the client's records are acknowledged again,
check the acknowledged records on the service's disk, then undo what the fault left
(power on, resume, plug cables) and wait until the cell is whole before the next one.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib.errors import BenchError
from benchlib.labs import Lab, built_lab
from chaos.cell import Cell, Status
from chaos.cells import AUX, DATA, NFS, NFS_MOUNT, PROFILES, Profile, campaign_cell, nfs_cell
from chaos.faults import START_S, Deck, FaultContext, Injected
from chaos.nfsfaults import GANESHA_MARK, NFS_KINDS, NFS_STEP_S
from chaos.nfsrecords import NfsRecordClient
from chaos.records import Check, RecordClient
from chaos.timeline import fences_against, inquorate_fences, keep_evidence
from tandem.lab.holders import HolderSpec
from tandem.lab.proc import LabError
from tandem.lab.watch import HolderWatch, SplitBrainWatch

Say = Callable[[str], None]
WHOLE_TIMEOUT_S = 90.0
FIRST_START_S = 60.0
MIN_CAP_S = 60.0
POLL_S = 0.2
MAX_CELLS = 3  # cells of one size a campaign may use up
VERIFY_TRIES = 5
# Where a cell with a violation or an unexpected takeover/fence leaves its timelines.
EVIDENCE = Path("/var/tmp/tandem-chaos")
SETTLED = ("fenced", "offline", "online")  # how a victim may look once dealt with
WATCH_S = 0.05  # the watches' sampling interval


@dataclass
class Options:
    """What to run: how many faults, from which seed, on which cell sizes."""

    faults: int
    seed: int
    sizes: tuple[int, ...] = (2, 3)
    qdisk: bool = True  # also a 2-node cell with a quorum disk (last in the plan)
    nfs_faults: int = 0  # faults on a 2-node HA_NFS cell, after the others (0: none)
    profile: Profile = PROFILES["default"]
    say: Say = lambda _line: None


@dataclass
class FaultRecord:
    """One injected fault and what followed."""

    index: int
    nodes: int
    kind: str
    variant: str
    detail: str
    disrupted: list[str]
    budget_s: float
    recovery_s: float | None = None
    client_outage_s: float | None = None
    whole_s: float | None = None
    violations: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    healthy_fenced: list[str] = field(default_factory=list)  # fences the fault did not allow
    notes: list[str] = field(default_factory=list)
    owners_before: dict[str, str] = field(default_factory=dict)
    owners_after: dict[str, str | None] = field(default_factory=dict)
    abandon: bool = False
    qdisk: bool = False  # the cell had a quorum disk
    nfs: bool = False  # the NFS cell (the service is HA_NFS, the client NFSv3)
    pause_s: float | None = None  # NFS cell: the client's longest write in the fault

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


@dataclass
class CampaignResult:
    """Everything the summary needs."""

    options: Options
    faults: list[FaultRecord] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # not tied to one fault
    anomalies: list[str] = field(default_factory=list)
    daemon_deaths: list[str] = field(default_factory=list)
    watches: list[str] = field(default_factory=list)  # each watch's samples and failures
    acked: int = 0
    attempts: int = 0
    verifications: int = 0
    nfs_acked: int = 0  # the NFS cell's figures, kept apart
    nfs_attempts: int = 0
    nfs_verifications: int = 0
    duration_s: float = 0.0

    def all_violations(self) -> list[str]:
        return [*self.violations, *(f"fault {f.index} ({f.kind}): {v}"
                                    for f in self.faults for v in f.violations)]

    def healthy_fenced(self) -> list[str]:
        return [f"fault {f.index} ({f.kind}, {f.variant}): {h}"
                for f in self.faults for h in f.healthy_fenced]

    def failures(self) -> list[str]:
        """What fails a campaign: safety violations, a healthy node fenced (a fence the
        fault did not call for), a daemon that died under a powered node."""
        return [*self.all_violations(), *self.healthy_fenced(), *self.daemon_deaths]


@dataclass(frozen=True)
class Setup:
    """Which cell: its size, a quorum disk, or the NFS cell (2 nodes, HA_NFS only)."""

    size: int
    qdisk: bool = False
    nfs: bool = False

    @property
    def tag(self) -> str:
        """The lab's tag (bench-TAG-PID): the NFS cell's is apart from the others'."""
        return "nfs" if self.nfs else f"c{self.size}{'q' if self.qdisk else ''}"

    @property
    def label(self) -> str:
        return "NFS cell" if self.nfs else f"{self.size}-node cell" + \
            (" with a quorum disk" if self.qdisk else "")

    def text(self, profile: Profile) -> str:
        if self.nfs:
            return nfs_cell("chaos", profile)
        return campaign_cell("chaos", self.size, profile, qdisk=self.qdisk)


def plan(faults: int, sizes: tuple[int, ...],
         qdisk: bool = False) -> list[tuple[int, bool, int]]:
    """Share `faults` between the cells: (size, has a quorum disk, count); the first
    cells get the remainder. The quorum-disk cell (2 nodes) comes last."""
    cells = [(size, False) for size in sizes] + ([(2, True)] if qdisk else [])
    if not cells or faults < 1:
        return []
    base, extra = divmod(faults, len(cells))
    counts = [base + (1 if i < extra else 0) for i in range(len(cells))]
    return [(size, disk, count) for (size, disk), count in zip(cells, counts, strict=True)
            if count > 0]


def run_campaign(opts: Options) -> CampaignResult:
    """Run the whole campaign; raises BenchError only if a lab cannot be built."""
    result = CampaignResult(opts)
    rng = random.Random(opts.seed)
    started = time.monotonic()
    deck = Deck(rng)  # one deck for the whole campaign: each round covers every kind
    index = 0
    for size, qdisk, count in plan(opts.faults, opts.sizes, opts.qdisk):
        index = _cells(Setup(size, qdisk), (rng, deck), opts, result, index=index,
                       count=count)
    if opts.nfs_faults > 0:  # its own deck: the other cells' draws stay as they were
        _cells(Setup(2, nfs=True), (rng, Deck(rng, NFS_KINDS)), opts, result, index=index,
               count=opts.nfs_faults)
    result.duration_s = time.monotonic() - started
    return result


def _cells(setup: Setup, draws: tuple[random.Random, Deck], opts: Options,
           result: CampaignResult, *, index: int, count: int) -> int:
    """`count` faults on cells of one setup (an abandoned cell is replaced by a fresh
    one, up to MAX_CELLS); returns the number of the last fault injected."""
    last = index + count
    for _ in range(MAX_CELLS):
        with built_lab(setup.tag, setup.text(opts.profile), say=opts.say) as lab:
            cell_run = CellRun(lab, setup, draws, opts, result)
            try:
                cell_run.run(index, last - index)
            except (BenchError, LabError) as exc:  # a step of the harness failed
                result.violations.append(f"{setup.label} stopped after fault "
                                         f"{cell_run.index}: {exc}")
                result.anomalies.append(f"timelines and logs kept in "
                                        f"{keep_evidence(lab, EVIDENCE)}")
            index = cell_run.index
        if index >= last:
            break
    return index


class CellRun:
    """The faults of one cell, with its watches and its client."""

    def __init__(self, lab: Lab, setup: Setup, draws: tuple[random.Random, Deck],
                 opts: Options, result: CampaignResult) -> None:
        self.lab = lab
        self.size = setup.size
        self.qdisk = setup.qdisk
        self.nfs = setup.nfs
        self.main = NFS if setup.nfs else DATA  # the service the client writes through
        self.cell = Cell(lab)
        self.rng, self.deck = draws
        self.opts = opts
        self.result = result
        self.index = 0  # number of the last fault injected
        self.label = setup.label
        self.client: RecordClient | NfsRecordClient

    def run(self, first_index: int, count: int) -> None:
        """Inject `count` faults numbered from `first_index + 1` (see `self.index`)."""
        self.index = first_index
        violations_before = len(self.result.all_violations())
        faults_before = len(self.result.faults)
        if self.nfs:
            self._start_nfs()
        self.cell.wait_whole(FIRST_START_S)
        specs = [HolderSpec(NFS, process_mark=GANESHA_MARK)] if self.nfs else \
            [HolderSpec(DATA, process_mark="recordd.py"),
             HolderSpec(AUX, dummy_resource=f"{AUX}-state")]
        name = self.lab.record.name
        with SplitBrainWatch(name, interval_s=WATCH_S) as watch, \
                HolderWatch(name, specs, interval_s=WATCH_S) as holders, \
                (NfsRecordClient(self.lab) if self.nfs else RecordClient(self.lab)) as client:
            self.client = client
            self._wait_first_ack()
            seen = Seen()
            self._faults(count, lambda: seen.new(watch, holders) + client.problems())
            self.result.violations += seen.new(watch, holders) + client.problems()
            final = self._verify()
            if not final.ok:
                self.result.violations.append(f"{self.label}: final read-back: "
                                              f"{_check_text(final)}")
            self._count_records(*client.counts())
        self.result.violations += [f"{self.label}: {v}"
                                   for v in inquorate_fences(self.lab)]
        self._judge_watches(watch, holders)
        self.result.anomalies += self.cell.anomalies
        if self.cell.repowered:
            self.result.anomalies.append(f"{self.label}: {self.cell.repowered} "
                                         f"node(s) were off again after being powered on")
        self.result.daemon_deaths += self.cell.daemon_deaths
        odd = any(f.unexpected or f.healthy_fenced
                  for f in self.result.faults[faults_before:])
        if len(self.result.all_violations()) > violations_before or odd:
            kept = keep_evidence(self.lab, EVIDENCE)
            self.result.anomalies.append(f"timelines and logs of {self.lab.record.name} "
                                         f"kept in {kept}")

    def _count_records(self, attempts: int, acked: int) -> None:
        if self.nfs:
            self.result.nfs_attempts += attempts
            self.result.nfs_acked += acked
        else:
            self.result.attempts += attempts
            self.result.acked += acked

    def _start_nfs(self) -> None:
        """HA_NFS does not start by itself: make its mount point in each node's private
        /srv, then `clusvcadm -e HA_NFS -m node1` as an administrator does, retried
        while the cell forms (bounded)."""
        for node in self.cell.nodes:
            (self.lab.node_root(node) / NFS_MOUNT.lstrip("/")).mkdir(parents=True,
                                                                    exist_ok=True)
        first = self.cell.nodes[0]
        deadline = time.monotonic() + FIRST_START_S
        while True:
            done = self.cell.run(first, ["clusvcadm", "-e", NFS, "-m", first], timeout=60)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"clusvcadm -e {NFS} failed: "
                                 f"{(done.stderr or done.stdout).strip()[-200:]}")
            time.sleep(1.0)

    def _judge_watches(self, *watches: SplitBrainWatch | HolderWatch) -> None:
        """A watch that looked too rarely proves nothing: that is a violation too."""
        for watch in watches:
            self.result.watches.append(f"{self.label}: {watch.summary()}")
            problem = watch.health()
            if problem:
                self.result.violations.append(f"{self.label}: {problem}")

    def _faults(self, count: int, watched: Callable[[], list[str]]) -> None:
        """The fault loop; `watched()` hands out what the watches saw since last asked."""
        last = self.index + count
        for _ in range(2 * count):  # a fault that could not be injected is drawn again
            if self.index >= last:
                break
            record = self.one_fault(self.index + 1)
            if record is None:
                continue
            self.index = index = record.index
            record.violations += watched()
            self.result.faults.append(record)
            self.opts.say(_progress_line(record, self.opts.faults + self.opts.nfs_faults))
            if record.abandon:
                self.result.violations.append(f"{self.label} abandoned after "
                                              f"fault {index}")
                break

    def _wait_first_ack(self) -> None:
        deadline = time.monotonic() + FIRST_START_S
        while self.client.first_ack_after(0.0) is None:
            if time.monotonic() > deadline or not self.client.alive():
                raise BenchError(f"the {self.main} client never got an acknowledgement")
            time.sleep(0.1)

    def owners(self) -> dict[str, str]:
        for node in self.cell.nodes:
            status = self.cell.status(node)
            if status is not None:
                return {r.name: r.owner for r in status.services if r.owner}
        raise BenchError("no daemon answers")

    def one_fault(self, index: int) -> FaultRecord | None:
        owners = self.owners()
        kind = self.deck.draw(qdisk=self.qdisk)
        try:
            injected = kind.inject(FaultContext(
                self.cell, self.rng, self.opts.profile, owners, qdisk=self.qdisk,
                main=self.main, start_s=NFS_STEP_S if self.nfs else START_S))
        except (BenchError, LabError) as exc:
            self.result.anomalies.append(f"fault {index} ({kind.name}) not injected: {exc}")
            with contextlib.suppress(LabError):
                self.cell.restore()
            return None
        record = FaultRecord(index, self.size, injected.kind, injected.variant,
                             injected.detail, sorted(injected.disrupted),
                             injected.budget_s, notes=list(injected.notes),
                             owners_before=owners, qdisk=self.qdisk, nfs=self.nfs)
        if injected.release is not None:
            time.sleep(injected.hold_s)
            try:
                injected.release()
            except LabError as exc:
                record.notes.append(f"ending the fault failed: {exc}")
        self._await_recovery(injected, owners, record)
        self._judge_fences(injected, record)
        if self.main in injected.disrupted and record.recovery_s is not None:
            self._check_records(record, "after the failover")
        if injected.settle is not None:
            try:
                injected.settle()
            except (BenchError, LabError) as exc:
                record.notes.append(str(exc))
        repowered = self.cell.repowered
        try:
            self.cell.restore()
            record.whole_s = self.cell.wait_whole(WHOLE_TIMEOUT_S)
        except (BenchError, LabError) as exc:
            record.violations.append(str(exc))
            record.abandon = True
            return record
        if self.cell.repowered > repowered:
            record.notes.append(f"{self.cell.repowered - repowered} node(s) off again "
                                f"after the harness powered them on; powered on again")
        self._check_records(record, "once whole")
        if isinstance(self.client, NfsRecordClient):  # a read-back waits for every write
            record.pause_s = self.client.pauses(injected.at, time.time())
        return record

    def _judge_fences(self, inj: Injected, record: FaultRecord) -> None:
        """Fences since the fault: a healthy node fenced fails the campaign; a retried
        fence, or one started and not carried out, is reported."""
        story = fences_against(self.lab, inj.at, time.time())
        fenced = self._powered_off() | {t for t, s in story.items()
                                        if any(w.startswith("done") for w in s)}
        record.healthy_fenced += healthy_fenced(inj, fenced, story)
        for target, steps in story.items():
            started = sum(1 for w in steps if w.startswith("start"))
            if started > 1 or (target not in fenced and started):
                record.unexpected.append(f"fencing of {target}: {', '.join(steps)}")

    def _powered_off(self) -> set[str]:
        """Nodes whose BMC powered them off (a crash leaves a node "crashed")."""
        return {n for n in self.cell.nodes
                if (p := self.cell.power(n)).power == "off" and p.condition == "off"}

    def _await_recovery(self, inj: Injected, before: dict[str, str],
                        record: FaultRecord) -> None:
        cap = max(3 * inj.budget_s, MIN_CAP_S)
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline:
            status = self._observer_status(inj)
            done = status is not None and self._recovered(inj, status)
            if status is not None and done is not None:
                record.recovery_s = done
                record.client_outage_s = self.client.outage(inj.at)
                record.unexpected += _unexpected(inj, status, before, self.cell)
                record.owners_after = {r.name: r.owner for r in status.services}
                if done > inj.budget_s:
                    record.violations.append(f"late: back after {done:.1f} s, expected "
                                             f"within {inj.budget_s:.1f} s")
                return
            time.sleep(POLL_S)
        record.violations.append(f"not back within {cap:.0f} s (expected within "
                                 f"{inj.budget_s:.1f} s): "
                                 f"{'; '.join(self.cell.problems()[:4])}")

    def _observer_status(self, inj: Injected) -> Status | None:
        for node in self.cell.nodes:
            if not self.cell.usable(node) or (inj.gone and node == inj.victim):
                continue
            status = self.cell.status(node)
            if status is not None and status.quorate:
                return status
        return None

    def _recovered(self, inj: Injected, status: Status) -> float | None:
        """Seconds from the fault until every disrupted service was back and the client
        had an acknowledgement again; None while not yet."""
        if inj.gone and inj.victim is not None:
            seen = next(r.state for r in status.nodes if r.name == inj.victim)
            if seen not in SETTLED:
                return None  # not yet fenced: a restore now would race the fence
        if self.nfs and self._fencing():
            # A fence still under way (its target came back during the race delay)
            # will move the service: a client answered by the node about to be fenced
            # is not back yet. (The other cells do not wait for it: their figures stay
            # comparable with earlier runs.)
            return None
        worst = 0.0
        for row in status.services:
            if row.state != "started" or not row.owner or \
                    (inj.gone and row.owner == inj.victim):
                return None
            if row.name in inj.disrupted:
                if row.since is None or row.since < inj.at:
                    return None
                worst = max(worst, row.since - inj.at)
        if self.main in inj.disrupted:
            ack = self.client.first_ack_after(inj.at + worst)
            return None if ack is None else max(worst, ack - inj.at)
        outage = self.client.outage(inj.at)
        return None if outage is None else max(worst, outage)

    def _fencing(self) -> bool:
        """Whether any daemon that answers is fencing a node now (the observer may be
        the very node being fenced, which does not know it)."""
        usable = [n for n in self.cell.nodes if self.cell.usable(n)]
        return any(s is not None and s.fencing for s in self.cell.statuses(usable).values())

    def _verify(self) -> Check:
        check = self.client.verify()
        for _ in range(VERIFY_TRIES - 1):
            if not check.error:
                break
            time.sleep(1.0)
            check = self.client.verify()
        if self.nfs:
            self.result.nfs_verifications += 1
        else:
            self.result.verifications += 1
        return check

    def _check_records(self, record: FaultRecord, when: str) -> None:
        check = self._verify()
        if not check.ok:
            record.violations.append(f"records {when}: {_check_text(check)}")


def _check_text(check: Check) -> str:
    if check.error:
        return check.error
    shown = ", ".join(str(n) for n in check.missing[:10])
    return f"{len(check.missing)} acknowledged records missing ({shown})"


def _unexpected(inj: Injected, status: Status, before: dict[str, str],
                cell: Cell) -> list[str]:
    """Takeovers and fences the fault did not call for (not unsafe, but worth a look)."""
    found = []
    for row in status.services:
        if row.name in inj.disrupted or row.name in inj.may_restart:
            continue
        if row.owner != before.get(row.name):
            found.append(f"{row.name} moved {before.get(row.name)} -> {row.owner}")
        elif row.since is not None and row.since > inj.at:
            found.append(f"{row.name} restarted on {row.owner}")
    for node in cell.nodes:
        power = cell.power(node)
        if node != inj.victim and power.power == "off" and power.condition == "off":
            found.append(f"{node} fenced")
    return found


def healthy_fenced(inj: Injected, fenced: set[str],
                   story: dict[str, list[str]] | None = None) -> list[str]:
    """Nodes of `fenced` (a fence of theirs succeeded, or their BMC powered them off)
    that the fault did not allow to be fenced, with what the daemons did. Pure."""
    allowed = inj.may_fence or frozenset()
    return [f"{node} fenced, though {inj.kind} ({inj.variant}) may fence "
            f"{' or '.join(sorted(allowed)) or 'nobody'}"
            + (f" ({', '.join(story[node])})" if story and node in story else "")
            for node in sorted(fenced - allowed)]


class Seen:
    """What the watches reported so far, to hand out only what is new."""

    def __init__(self) -> None:
        self.split = 0
        self.holders = 0

    def new(self, watch: SplitBrainWatch, holders: HolderWatch) -> list[str]:
        split, held = watch.snapshot(), holders.snapshot()
        found = [v.describe() for v in split[self.split:]]
        found += [o.describe() for o in held[self.holders:]]
        self.split, self.holders = len(split), len(held)
        return found


def _progress_line(record: FaultRecord, total: int) -> str:
    back = ("no recovery" if record.recovery_s is None
            else f"back in {record.recovery_s:.2f} s" if record.disrupted
            else "nothing to recover" + (f" (client gap {record.client_outage_s:.2f} s)"
                                         if record.client_outage_s else ""))
    extra = f"; {len(record.violations)} VIOLATION(S)" if record.violations else ""
    extra += f"; HEALTHY NODE FENCED: {', '.join(record.healthy_fenced)}" \
        if record.healthy_fenced else ""
    odd = f"; unexpected: {', '.join(record.unexpected)}" if record.unexpected else ""
    cell = "NFS" if record.nfs else f"{record.nodes}-node{' qdisk' if record.qdisk else ''}"
    return (f"[{record.index}/{total}] {cell} {record.kind} ({record.variant}): "
            f"{record.detail} -> {back} (budget {record.budget_s:.1f} s)"
            f"{odd}{extra}")
