"""The campaign's faults: each one breaks the cell in one way and says what it expects
(which services must restart or move, and within how long, derived from the timing
profile), and how a fault that lasts a while ends.

Kinds: crash, hang (short, then resume; or until fenced), reboot (power cycle through
the BMC with ipmitool), link-cut (one heartbeat ring, or every ring: isolation),
bmc-cut (alone, or with a crash of that node), loss (packet loss on one or both rings),
svc-kill (the record server killed), stop-fail (a stop that fails), relocate (an
operator's planned move), qdisk-loss (the quorum disk's path removed in one node or
both, in cells that have one).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchlib.errors import BenchError
from chaos.cell import Cell
from chaos.cells import (
    AUX,
    BMC_PASSWORD,
    DATA,
    FENCE_TIMEOUT_S,
    HEURISTIC_INTERVAL_S,
    HEURISTIC_TIMEOUT_S,
    HEURISTIC_TKO,
    PREFERRED_DELAY_MS,
    QDISK_PATH,
    Profile,
    monitor_fail_file,
    stop_fail_file,
)
from tandem.lab.proc import LabError, netns_inode, pids_in_netns

START_S = 3.0  # starting (or stopping) a service's resources, generously
BOOT_S = 2.0  # a power cycle: the node boots and its daemon starts
FENCE_RETRY_S = 5.0  # the engine's pause after a failed fence attempt
MARGIN = 1.5
SLACK_S = 2.0
RINGS = ("admin", "backbone")
VIP_RING = "admin"
RECORD_MARK = "recordd.py"


@dataclass
class Injected:
    """A fault as injected: what it did and what must follow."""

    kind: str
    variant: str
    detail: str
    victim: str | None
    at: float
    budget_s: float
    disrupted: frozenset[str] = frozenset()  # services that must restart or move
    gone: bool = False  # the victim stops serving: its services must leave it
    may_restart: frozenset[str] = frozenset()  # services allowed (not required) to restart
    hold_s: float = 0.0
    release: Callable[[], None] | None = None  # ends a fault that lasts `hold_s`
    notes: list[str] = field(default_factory=list)
    # Run once the recovery was judged, before the cell is put back together (an
    # operator's request that clears what the fault left in the engine's memory).
    settle: Callable[[], None] | None = None
    # Nodes this fault may get fenced: the victim of a fault that takes it away (set
    # from `gone` when left None), every node where the fault can split a cell so that
    # no one can tell the healthy side (a fence race decides). Any other fence is a
    # healthy node fenced.
    may_fence: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.may_fence is None:
            self.may_fence = frozenset({self.victim}) if self.gone and self.victim \
                else frozenset()


@dataclass
class FaultContext:
    """What a fault needs to choose its victim and know what to expect."""

    cell: Cell
    rng: random.Random
    profile: Profile
    owners: dict[str, str]  # service -> node running it before the fault
    qdisk: bool = False  # the cell has a quorum disk (whose heuristic pings the client)
    main: str = DATA  # the service the cell's client writes through
    start_s: float = START_S  # stopping or starting it, the client's reconnection included

    def owned_by(self, node: str) -> frozenset[str]:
        return frozenset(s for s, n in self.owners.items() if n == node)

    def split(self) -> frozenset[str]:
        """Who may be fenced when this cell splits in two: in a two-node cell, either
        node (without a quorum disk a fence race decides; with one, the side that holds
        the disk's master stays quorate, and the isolated node may hold it until its
        heuristic fails); in a larger cell, nobody decided by the split itself."""
        return frozenset(self.cell.nodes) if len(self.cell.nodes) == 2 else frozenset()

    def victim(self, service: str | None = None, bias: float = 0.6) -> str:
        """The owner of `service` (the main one) most of the time, else any node."""
        owner = self.owners.get(service or self.main)
        if owner and self.rng.random() < bias:
            return owner
        return self.rng.choice(self.cell.nodes)

    # -- expected times -------------------------------------------------------------------
    def detect_s(self) -> float:
        return (self.profile.token_ms + 2 * self.profile.heartbeat_ms) / 1000

    def give_up_s(self) -> float:
        """A node cut from the client fails its heuristic and gives up its vote; the
        quorum disk's master role passes to the peer if it had it."""
        heuristic = HEURISTIC_TKO * HEURISTIC_INTERVAL_S + HEURISTIC_TIMEOUT_S
        handoff = (self.profile.qdisk_tko + 3) * self.profile.qdisk_interval_ms / 1000
        return heuristic + handoff

    def fence_s(self, victim: str, *, reads_off: bool) -> float:
        """Worst fence: the race delay of the preferred node (skipped when its power
        already reads off) and one full device timeout."""
        preferred = self.cell.lab.config.nodes[0].name
        delay = PREFERRED_DELAY_MS / 1000 if victim == preferred and not reads_off else 0.0
        return delay + FENCE_TIMEOUT_S

    @staticmethod
    def budget(*steps: float) -> float:
        return sum(steps) * MARGIN + SLACK_S


Inject = Callable[[FaultContext], Injected]


def _now() -> float:
    return time.time()


def crash(ctx: FaultContext) -> Injected:
    victim = ctx.victim()
    at = _now()
    ctx.cell.lab.control.crash(victim)
    return Injected("crash", "power loss", f"power loss of {victim}", victim, at,
                    ctx.budget(ctx.detect_s(), ctx.fence_s(victim, reads_off=True), ctx.start_s),
                    ctx.owned_by(victim), gone=True)


def hang(ctx: FaultContext) -> Injected:
    """Short (shorter than the token: nothing may happen), resumed just after the loss
    was declared (the fence is under way, or the race delay running), or until fenced."""
    victim = ctx.victim()
    control = ctx.cell.lab.control
    draw = ctx.rng.random()
    if draw < 0.5:
        short = draw < 0.25
        hold = 0.4 * ctx.profile.token_ms / 1000 if short else ctx.detect_s() + 0.8
        at = _now()
        control.hang(victim)
        # After a late resume either node may be fenced (both saw the other go silent):
        # no service has to move, but each must end up on exactly one node.
        return Injected("hang", "short" if short else "resumed mid-fence",
                        f"{victim} hung for {hold:.1f} s, then resumed", victim, at,
                        ctx.budget(hold, ctx.fence_s(victim, reads_off=False), ctx.start_s),
                        hold_s=hold, release=lambda: _resume_if_on(ctx.cell, victim),
                        may_restart=frozenset() if short else ctx.owned_by(victim),
                        may_fence=frozenset() if short else frozenset(ctx.cell.nodes))
    at = _now()
    control.hang(victim)
    return Injected("hang", "until fenced", f"{victim} hung (SIGSTOP) until fenced", victim,
                    at, ctx.budget(ctx.detect_s(), ctx.fence_s(victim, reads_off=False),
                                   ctx.start_s), ctx.owned_by(victim), gone=True)


def reboot(ctx: FaultContext) -> Injected:
    """A power cycle through the victim's BMC, with ipmitool from the client."""
    victim = ctx.victim()
    bmc = ctx.cell.lab.config.node(victim).bmc
    assert bmc is not None
    at = _now()
    done = ctx.cell.run("client", ["ipmitool", "-I", "lanplus", "-H", bmc.address, "-U",
                                   bmc.user, "-P", BMC_PASSWORD, "chassis", "power", "cycle"])
    if done.returncode != 0:
        raise BenchError(f"ipmitool power cycle of {victim} failed: {done.stderr.strip()}")
    return Injected("reboot", "bmc power cycle", f"{victim} power-cycled through its BMC",
                    victim, at, ctx.budget(ctx.detect_s(), BOOT_S,
                                           ctx.fence_s(victim, reads_off=False), ctx.start_s),
                    ctx.owned_by(victim),  # not gone: it boots again and may run them
                    may_fence=frozenset({victim}))


def link_cut(ctx: FaultContext) -> Injected:
    victim = ctx.victim()
    faults = ctx.cell.lab.faults
    if ctx.rng.random() < 0.5:
        ring = ctx.rng.choice(RINGS)
        if ctx.qdisk and ring == VIP_RING:
            return _heuristic_cut(ctx, victim)
        hold = 3.0
        at = _now()
        faults.cut(victim, ring)
        # The virtual IP lives on the admin network: its monitor sees the lost carrier.
        carried = ctx.owned_by(victim) & {ctx.main} if ring == VIP_RING else frozenset()
        return Injected("link-cut", "one ring", f"{victim}'s {ring} cable pulled for "
                        f"{hold:g} s", victim, at, ctx.budget(hold, ctx.start_s), hold_s=hold,
                        release=lambda: faults.heal(victim, ring), may_restart=carried)
    at = _now()
    for ring in RINGS:
        faults.cut(victim, ring)
    # With a quorum disk, the peer may have to wait for the victim to give up the
    # master role (its heuristic fails) before it is quorate alone.
    waits = ctx.give_up_s() if ctx.qdisk else ctx.detect_s()
    return Injected("link-cut", "every ring", f"{victim} isolated (every heartbeat cable "
                    f"pulled)", victim, at,
                    ctx.budget(waits, ctx.fence_s(victim, reads_off=False), ctx.start_s),
                    ctx.owned_by(victim), gone=True,
                    may_fence=ctx.split() | {victim})


def _heuristic_cut(ctx: FaultContext, victim: str) -> Injected:
    """Quorum-disk cell, the client network cut on one node (heartbeats still flow on
    the backbone): its heuristic fails, it gives up, the peer fences it and takes over.
    The cable stays out long enough for that to happen every time."""
    faults = ctx.cell.lab.faults
    hold = ctx.give_up_s() + 3.0
    at = _now()
    faults.cut(victim, VIP_RING)
    return Injected("link-cut", "client network, heuristic", f"{victim}'s {VIP_RING} cable "
                    f"pulled for {hold:g} s (its heuristic fails)", victim, at,
                    ctx.budget(ctx.give_up_s(), ctx.fence_s(victim, reads_off=False),
                               ctx.start_s), ctx.owned_by(victim), gone=True, hold_s=hold,
                    release=lambda: faults.heal(victim, VIP_RING))


def bmc_cut(ctx: FaultContext) -> Injected:
    faults = ctx.cell.lab.faults
    if ctx.rng.random() < 0.5:
        victim = ctx.rng.choice(ctx.cell.nodes)
        hold = 4.0
        at = _now()
        faults.cut(victim, None, bmc=True)
        return Injected("bmc-cut", "alone", f"{victim}'s BMC cable pulled for {hold:g} s",
                        victim, at, ctx.budget(hold, ctx.start_s), hold_s=hold,
                        release=lambda: faults.heal(victim, None, bmc=True))
    victim = ctx.victim()
    hold = 6.0
    how = ctx.rng.choice(("crash", "hang"))
    at = _now()
    faults.cut(victim, None, bmc=True)
    getattr(ctx.cell.lab.control, how)(victim)
    # No takeover may happen until the BMC answers again; then a retried fence.
    budget = ctx.budget(hold, FENCE_TIMEOUT_S, FENCE_RETRY_S,
                        ctx.fence_s(victim, reads_off=how == "crash"), ctx.start_s)
    return Injected("bmc-cut", f"with {how}", f"{victim}'s BMC cable pulled, then {victim} "
                    f"{'lost power' if how == 'crash' else 'hung'}; BMC back after {hold:g} s",
                    victim, at, budget, ctx.owned_by(victim), gone=True, hold_s=hold,
                    release=lambda: faults.heal(victim, None, bmc=True))


def loss(ctx: FaultContext) -> Injected:
    victim = ctx.victim()
    rings = list(RINGS) if ctx.rng.random() < 0.5 else [ctx.rng.choice(RINGS)]
    pct = ctx.rng.choice((20, 30, 50))
    hold = 5.0
    cell = ctx.cell
    at = _now()
    for ring in rings:
        cell.loss(victim, ring, pct)

    def clear() -> None:
        for ring in rings:
            cell.clear_loss(victim, ring)

    return Injected("loss", f"{pct}% on {len(rings)} ring(s)", f"{pct}% packet loss on "
                    f"{victim}'s {' and '.join(rings)} for {hold:g} s", victim, at,
                    ctx.budget(hold, ctx.start_s), hold_s=hold, release=clear,
                    may_fence=_lossy_may_fence(ctx, victim, rings))


def _lossy_may_fence(ctx: FaultContext, victim: str, rings: list[str]) -> frozenset[str]:
    """Heavy loss on every ring may make the two sides of a two-node cell lose each
    other: a fence race (or, with a quorum disk, the disk's master) picks who is fenced.
    In a larger cell only the lossy node can be left alone, and fenced. With a quorum
    disk, loss on the client network can fail the lossy node's heuristic: it gives up
    and is fenced. Loss on one ring alone leaves the other ring's heartbeats."""
    if len(rings) == len(RINGS):
        return ctx.split() | {victim}
    return frozenset({victim}) if ctx.qdisk and VIP_RING in rings else frozenset()


def svc_kill(ctx: FaultContext) -> Injected:
    """SIGKILL the record server in the node that runs it."""
    victim = ctx.owners[DATA]
    inode = netns_inode(ctx.cell.lab.names.node_ns(victim))
    pids = [p for p in (pids_in_netns(inode) if inode else []) if _is_record_server(p)]
    if not pids:
        raise BenchError(f"no record server found in {victim}")
    at = _now()
    for pid in pids:
        signal_kill(pid)
    return Injected("svc-kill", "record server", f"record server killed on {victim}",
                    victim, at, ctx.budget(1.0, START_S, START_S), frozenset({DATA}))


def stop_fail(ctx: FaultContext) -> Injected:
    """Make the dummy service fail its monitor, and its stop: the node must be fenced
    before the service starts anywhere else."""
    victim = ctx.owners[AUX]
    at = _now()
    done = ctx.cell.run(victim, ["touch", stop_fail_file(AUX), monitor_fail_file(AUX)])
    if done.returncode != 0:
        raise BenchError(f"cannot set the failure flags on {victim}: {done.stderr.strip()}")
    return Injected("stop-fail", AUX, f"{AUX} fails on {victim} and cannot be stopped",
                    victim, at, ctx.budget(1.0, ctx.fence_s(victim, reads_off=False),
                                           START_S), ctx.owned_by(victim), gone=True)


def relocate(ctx: FaultContext) -> Injected:
    """A planned move, asked for in a random node with `tandem svc` or `clusvcadm`."""
    service = ctx.rng.choice(sorted(ctx.owners))
    owner = ctx.owners[service]
    target = ctx.rng.choice([n for n in ctx.cell.nodes if n != owner])
    issuer = ctx.rng.choice(ctx.cell.nodes)
    argv = (["tandem", "svc", "relocate", service, "--node", target]
            if ctx.rng.random() < 0.5 else ["clusvcadm", "-r", service, "-m", target])
    at = _now()
    injected = Injected("relocate", argv[0], f"{service} {owner} -> {target} "
                        f"({argv[0]} in {issuer})", owner, at,
                        ctx.budget(ctx.start_s, ctx.start_s), frozenset({service}))
    try:
        done = ctx.cell.run(issuer, argv, timeout=60)
    except subprocess.TimeoutExpired:  # the recovery check says whether it moved
        injected.notes.append(f"{' '.join(argv)} in {issuer} did not answer within 60 s")
        return injected
    if done.returncode != 0:
        injected.notes.append(f"{' '.join(argv)} in {issuer} exited {done.returncode}: "
                              f"{(done.stderr or done.stdout).strip()[-200:]}")
    return injected


def qdisk_loss(ctx: FaultContext) -> Injected:
    """The quorum disk's path disappears in one node or in both for a while, then comes
    back: node votes keep the cell quorate, so nothing may move and nobody is fenced."""
    cell = ctx.cell
    nodes = list(cell.nodes) if ctx.rng.random() < 0.4 else [ctx.rng.choice(cell.nodes)]
    numbers = {node: _block_numbers(cell, node, QDISK_PATH) for node in nodes}
    hold = 5.0
    at = _now()
    for node in nodes:
        done = cell.run(node, ["rm", "-f", QDISK_PATH])
        if done.returncode != 0:
            raise BenchError(f"cannot remove {QDISK_PATH} in {node}: {done.stderr.strip()}")

    def put_back() -> None:
        for node, (major, minor) in numbers.items():
            cell.run(node, ["mknod", "-m", "0660", QDISK_PATH, "b", major, minor])

    where = " and ".join(nodes)
    return Injected("qdisk-loss", "both nodes" if len(nodes) > 1 else "one node",
                    f"quorum disk gone from {where} for {hold:g} s",
                    nodes[0] if len(nodes) == 1 else None, at, ctx.budget(hold, START_S),
                    hold_s=hold, release=put_back)


def _block_numbers(cell: Cell, node: str, path: str) -> tuple[str, str]:
    """Major and minor (decimal) of a block device node inside a lab node."""
    done = cell.run(node, ["stat", "-c", "%t %T", path])
    if done.returncode != 0:
        raise BenchError(f"{path} missing in {node}: {done.stderr.strip()}")
    major, minor = done.stdout.split()
    return str(int(major, 16)), str(int(minor, 16))


@dataclass(frozen=True)
class Kind:
    """A fault kind, how often it is drawn, and whether a cell can take it."""

    name: str
    inject: Inject
    weight: int = 1
    needs_qdisk: bool = False


KINDS = (Kind("crash", crash, 2), Kind("hang", hang, 2), Kind("reboot", reboot),
         Kind("link-cut", link_cut, 2), Kind("bmc-cut", bmc_cut), Kind("loss", loss),
         Kind("svc-kill", svc_kill, 2), Kind("stop-fail", stop_fail),
         Kind("relocate", relocate, 2), Kind("qdisk-loss", qdisk_loss, needs_qdisk=True))


class Deck:
    """Draws kinds in shuffled rounds in which every kind appears `weight` times, so a
    short campaign still covers every kind. A kind the current cell cannot take goes
    back to the bottom of the pile, for a later cell that can."""

    def __init__(self, rng: random.Random, kinds: tuple[Kind, ...] = KINDS) -> None:
        self.rng = rng
        self.kinds = kinds
        self._pile: list[Kind] = []

    def draw(self, *, qdisk: bool = False) -> Kind:
        """The topmost kind this cell can take; the others stay where they are, however
        many pile up (a long campaign of cells without a quorum disk piles up
        qdisk-loss rounds for the cell that has one)."""
        def fits(kind: Kind) -> bool:
            return qdisk or not kind.needs_qdisk

        if not any(fits(k) for k in self._pile):
            fresh = [k for k in self.kinds for _ in range(k.weight)]
            self.rng.shuffle(fresh)
            self._pile = fresh + self._pile  # what this cell cannot take stays on top
        for index in range(len(self._pile) - 1, -1, -1):
            if fits(self._pile[index]):
                return self._pile.pop(index)
        raise BenchError("no fault kind fits this cell")  # unreachable: most kinds fit


def not_exercised(drawn: set[str], kinds: tuple[Kind, ...] = KINDS) -> list[str]:
    """Kinds the campaign never injected, for the summary."""
    return [k.name for k in kinds if k.name not in drawn]


def _resume_if_on(cell: Cell, node: str) -> None:
    """Resume a hung node, unless it was fenced meanwhile (then there is nothing to
    resume: it is off)."""
    power = cell.power(node)
    if power.power == "on" and power.condition == "hung":
        with contextlib.suppress(LabError):  # fenced between the look and the signal
            cell.lab.control.resume(node)


def _is_record_server(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return RECORD_MARK.encode() in handle.read()
    except OSError:
        return False


def signal_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
