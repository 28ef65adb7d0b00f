"""A whole cell of real engines in one process, driven cycle by cycle in fake time.

Every node is a real `tandem.daemon.engine.Engine` (observe -> decide -> act, the
fencer and the fence runner, the service executor with real `dummy` agents writing state
files under the test's directory). What cannot exist in a unit test is stood in for,
through the engine's `EngineEnv`:

- the clock is a `FakeClock` that the cell advances by a heartbeat at each step;
- the rings are a `SimNetwork` per node: every message an engine sends is recorded and
  handed to the other engines' message handlers (heartbeats into their failure detectors,
  as the network thread does); cut links drop them;
- each node's BMC is a `SimBmc` fence device: "power off" removes the node from the
  cell (it stops sending and deciding, like a node whose power was cut), "status" reads
  the node's power; it can be made to refuse, or to stop answering status reads;
- the quorum disk, where a test wants one, is a `SimDisk` whose view is computed from
  the cell (who is powered, who is master, and each node's slot: whether it still holds
  services and is quorate, as its engine said one step earlier: slots lag, as on disk).

The cell checks the safety invariants after every step, not only at the end: a service
active on two powered nodes, or a fence decided by a node that was not quorate, fails the
test at the step it happens.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tandem.config import ClusterConfig, parse_config
from tandem.config.model import ServiceDef
from tandem.daemon.cycle import CycleResult
from tandem.daemon.engine import Engine
from tandem.daemon.env import EngineEnv
from tandem.daemon.network import NetSetup, NetSnapshot
from tandem.daemon.operator import Operator
from tandem.daemon.paths import Paths
from tandem.daemon.services.executor import Agents
from tandem.fencing.base import FenceAuthError, FenceDevice, FenceTarget, PowerState
from tandem.manager.actions import Fence
from tandem.manager.model import LocalState
from tandem.membership.detector import FailureDetector
from tandem.membership.heartbeat import HeartbeatPayload, HeartbeatStats
from tandem.membership.rt import Outcome
from tandem.quorum.qdisk.config import QdiskDef
from tandem.quorum.qdisk.runner import DiskNode, QdiskView
from tandem.resources.registry import get_agent
from tandem.wire import Message, MsgType

HEARTBEAT_S = 0.1
SETTLE_ROUNDS = 200


class FakeClock:
    """Monotonic and wall clocks that move only when the cell says so."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_800_000_000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


class SimNetwork:
    """One node's rings: sends go to the cell's switchboard."""

    scheduling: Outcome | None = None

    def __init__(self, cell: SimCell, setup: NetSetup) -> None:
        self.cell = cell
        self.setup = setup
        self.snapshot = NetSnapshot()
        self.sent: list[tuple[MsgType, bytes, Any]] = []  # every message, in order

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def feed(self, now: float) -> None:
        pass

    def pull(self, detector: FailureDetector, lock: threading.Lock) -> None:
        pass  # the cell feeds every detector itself, as each heartbeat is delivered

    def send(self, msg_type: MsgType, payload: bytes,
             dest_node_ids: Any = None) -> None:
        self.sent.append((msg_type, payload, dest_node_ids))
        self.cell.post(self.setup.local, msg_type, payload, dest_node_ids)

    def publish(self, snapshot: NetSnapshot) -> None:
        self.snapshot = snapshot

    def retime(self, interval_s: float, config_version: int, token_s: float) -> None:
        pass

    async def refresh(self) -> None:
        pass

    def stats(self) -> dict[int, dict[str, int]]:
        return {}

    def heartbeat_stats(self) -> HeartbeatStats | None:
        return None


class SimBmc(FenceDevice):
    """Stands in for every node's BMC (there is no BMC in a unit test; the lab tests
    use real IPMI). Modes per node: "ok", "refuse" (off fails: wrong password), and
    "mute" (off is accepted, then status reads fail)."""

    def __init__(self, cell: SimCell) -> None:
        super().__init__(cell.config.fence_device("bmc"))
        self.cell = cell
        self.mode: dict[str, str] = {}

    async def off(self, target: FenceTarget) -> None:
        if self.mode.get(target.node, "ok") == "refuse":
            raise FenceAuthError(f"bmc: {target.node}: password refused")
        self.cell.power_off(target.node, "fenced")

    async def status(self, target: FenceTarget) -> PowerState:
        if self.mode.get(target.node, "ok") != "ok":
            raise FenceAuthError(f"bmc: {target.node}: no answer")
        return PowerState.ON if self.cell.nodes[target.node].powered else PowerState.OFF

    async def on(self, target: FenceTarget) -> None:
        raise FenceAuthError("power on is the cell's business in this simulation")


class SimDisk:
    """Stands in for one node's quorum-disk thread (no shared disk in a unit test):
    its view is the cell's truth. The master is the lowest powered node that reaches the
    disk; a node's slot says whether it still holds services and is quorate, as its
    engine set them before the cell's last `write` (one step earlier)."""

    def __init__(self, cell: SimCell, node: str, config: QdiskDef) -> None:
        self.cell, self.node, self.config = cell, node, config
        self.holding = False
        self.quorate = False
        self.slot = (False, False)  # (holding, quorate) as the others read it

    def start(self) -> None:
        pass

    def stop(self) -> bool:
        return True

    def set_holding(self, holding: bool) -> None:
        self.holding = holding

    def set_quorate(self, quorate: bool) -> None:
        self.quorate = quorate

    def write(self) -> None:
        """One disk cycle: the slot takes what the engine said last."""
        self.slot = (self.holding, self.quorate)

    def reconfigure(self, config: QdiskDef) -> None:
        self.config = config

    def snapshot(self) -> QdiskView:
        cell = self.cell
        alive = {n.id: n for n in cell.nodes.values() if n.powered and n.disk is not None}
        master = min(alive) if alive else None
        rows = {i: DiskNode(i, n.name, True, "alive", 1, 0.0, 1, 1, True, "running",
                            "master" if i == master else "none", 1,
                            *(n.disk.slot if n.disk else (False, False)))
                for i, n in alive.items()}
        mine = cell.nodes[self.node].id
        return QdiskView(True, "", master, master == mine, 1, 1, True, frozenset(rows),
                         nodes=rows, votes=self.config.votes)


@dataclass
class SimNode:
    name: str
    id: int
    dir: Path
    powered: bool = False
    engine: Engine | None = None
    net: SimNetwork | None = None
    disk: SimDisk | None = None
    results: list[CycleResult] = field(default_factory=list)

    @property
    def live(self) -> Engine:
        assert self.engine is not None and self.powered, f"{self.name} is not running"
        return self.engine


class InvariantBroken(AssertionError):
    """A safety rule of DESIGN.md §2 was broken during the run."""


class SimCell:
    """Real engines, fake time, a switchboard for their messages."""

    def __init__(self, tmp_path: Path, config_text: str) -> None:
        self.config: ClusterConfig = parse_config(config_text, "sim.toml")
        self.clock = FakeClock()
        self.tmp = tmp_path
        self.nodes = {n.name: SimNode(n.name, n.id, tmp_path / n.name)
                      for n in self.config.nodes}
        self.by_id = {n.id: n for n in self.nodes.values()}
        self.bmc = SimBmc(self)
        self.cut_links: set[frozenset[str]] = set()
        self.one_way: set[tuple[str, str]] = set()  # (sender, receiver) that is cut
        self.outbox: list[tuple[str, MsgType, bytes, Any]] = []
        self.log: list[str] = []  # what happened, in order (for failure messages)
        self.died_holding: dict[str, list[str]] = {}  # services active at power-off
        self.step_count = 0

    # -- the nodes ---------------------------------------------------------------------------
    def _agents(self, node: SimNode) -> Callable[[ServiceDef], Agents]:
        def build(svc: ServiceDef) -> Agents:
            return [(res, get_agent(res.agent).create(
                res.name, {**dict(res.params), "state_dir": str(node.dir / "dummy")}))
                for res in svc.resources]
        return build

    def _disk(self, node: SimNode) -> Callable[..., SimDisk]:
        def make(config: QdiskDef, local: Any, cell: str) -> SimDisk:
            node.disk = SimDisk(self, node.name, config)
            return node.disk
        return make

    async def boot(self, name: str, *, unblocked: bool = False) -> Engine:
        """Power a node on and start its engine (as tandemd would)."""
        node = self.nodes[name]

        def network(setup: NetSetup) -> SimNetwork:
            node.net = SimNetwork(self, setup)
            return node.net

        env = EngineEnv(clock=self.clock, network=network, disk=self._disk(node),
                        agents=self._agents(node), fence_devices={"bmc": self.bmc},
                        device_checks=False, load_key=lambda _: b"k" * 32)
        paths = Paths(state_dir=node.dir / "state", run_dir=node.dir / "run")
        paths.ensure()
        node.engine = Engine(self.config, name, paths=paths, unblocked=unblocked, env=env)
        node.powered = True
        await node.engine.open()
        self.log.append(f"{self.clock.mono:.1f} {name} boots")
        await self.settle()
        return node.engine

    def power_off(self, name: str, why: str) -> None:
        """Power loss: the node stops at once (its tasks die with it)."""
        node = self.nodes[name]
        if not node.powered:
            return
        engine = node.engine
        if engine is not None:
            self.died_holding[name] = [s.name for s in self.config.services
                                       if self.local_state(name, s.name).active]
        node.powered = False
        self.log.append(f"{self.clock.mono:.1f} {name} powered off ({why})")
        if engine is None:
            return
        for svc in engine.local_services.services.values():
            for task in [svc.task, *svc.monitors]:
                if task is not None:
                    task.cancel()
        engine.fencer.cancel_all()
        for task in engine._tasks:
            task.cancel()

    def cut(self, a: str, b: str) -> None:
        self.cut_links.add(frozenset({a, b}))

    def heal(self, a: str, b: str) -> None:
        self.cut_links.discard(frozenset({a, b}))

    def cut_one_way(self, sender: str, receiver: str) -> None:
        """`receiver` stops hearing `sender`; `sender` still hears `receiver`."""
        self.one_way.add((sender, receiver))

    def linked(self, a: str, b: str) -> bool:
        return frozenset({a, b}) not in self.cut_links

    def hears(self, receiver: str, sender: str) -> bool:
        return self.linked(receiver, sender) and (sender, receiver) not in self.one_way

    # -- messages ----------------------------------------------------------------------------
    def post(self, sender: str, msg_type: MsgType, payload: bytes, dest: Any) -> None:
        if self.nodes[sender].powered:
            self.outbox.append((sender, msg_type, payload, dest))

    def _deliver(self) -> int:
        sent, self.outbox = self.outbox, []
        for sender_name, msg_type, payload, dest in sent:
            sender = self.nodes[sender_name]
            assert sender.engine is not None
            msg = Message(msg_type, b"", sender.id, 0, sender.engine.incarnation, 0, payload)
            for node in self.nodes.values():
                if node is sender or not node.powered or not self.hears(node.name,
                                                                        sender_name):
                    continue
                if dest is not None and node.id not in dest:
                    continue
                node.live.messages.deliver(msg, 0, self.clock.mono, None)
        return len(sent)

    def _heartbeats(self) -> None:
        now = self.clock.mono
        for sender in self.nodes.values():
            if not sender.powered or sender.net is None or sender.engine is None:
                continue
            snap, view = sender.net.snapshot, sender.engine.view
            hears = view.alive if view is not None else frozenset()  # as the HB process does
            body = HeartbeatPayload(hears=hears, config_version=self.config.config_version,
                                    extra=snap.extra)
            msg = Message(MsgType.HEARTBEAT, b"", sender.id, 0, sender.engine.incarnation, 0,
                          body.to_bytes())
            for node in self.nodes.values():
                if node is sender or not node.powered or not self.hears(node.name,
                                                                        sender.name):
                    continue
                engine = node.live
                with engine.lock:
                    engine.detector.heard(sender.id, 0, now, body.hears,
                                          incarnation=sender.engine.incarnation)
                engine.messages.deliver(msg, 0, now, body)

    # -- running -----------------------------------------------------------------------------
    def _busy(self) -> bool:
        for node in self.nodes.values():
            if not node.powered or node.engine is None:
                continue
            engine = node.engine
            if engine.local_services.busy or engine.fencer.running:
                return True
            if any(not t.done() for t in engine._tasks[:1]):  # the probe
                return True
        return bool(self.outbox)

    async def settle(self) -> None:
        """Let every task the last cycles started run to its end (bounded)."""
        for _ in range(SETTLE_ROUNDS):
            self._deliver()
            await asyncio.sleep(0)
            if not self._busy():
                await asyncio.sleep(0)
                if not self._busy():
                    return
            await asyncio.sleep(0.001)
        raise AssertionError("the cell did not settle: " + "; ".join(self.log[-10:]))

    async def step(self, seconds: float = HEARTBEAT_S) -> None:
        """One heartbeat period: beat, deliver, tick every powered node, settle, check."""
        self.clock.advance(seconds)
        self.step_count += 1
        for node in self.nodes.values():
            if node.powered and node.disk is not None:
                node.disk.write()
        self._heartbeats()
        self._deliver()
        for node in self.nodes.values():
            if node.powered and node.engine is not None:
                quorate_before = node.engine.cell.quorum.quorate
                result = node.engine.tick()
                node.results.append(result)
                fences = [a for a in result.actions if isinstance(a, Fence)]
                if fences and not node.engine.cell.quorum.quorate:
                    raise InvariantBroken(f"{node.name} fenced while not quorate: {result}")
                if result.actions:
                    self.log.append(f"{self.clock.mono:.1f} {node.name}: {result.status}"
                                    + ("" if quorate_before else " [was not quorate]"))
        await self.settle()
        self.check()

    async def run(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Step for `seconds` of fake time, or until `until()` holds; whether it held."""
        steps = round(seconds / HEARTBEAT_S)
        for _ in range(steps):
            await self.step()
            if until is not None and until():
                return True
        return until is None

    # -- what is true now --------------------------------------------------------------------
    def local_state(self, name: str, service: str) -> LocalState:
        engine = self.nodes[name].engine
        assert engine is not None
        return engine.local_services.report().get(service).state

    def holders(self, service: str) -> list[str]:
        """Powered nodes that may hold `service` (starting, started, stopping, or a stop
        that failed)."""
        return [n.name for n in self.nodes.values()
                if n.powered and self.local_state(n.name, service).active]

    def running(self, service: str) -> list[str]:
        return [n.name for n in self.nodes.values()
                if n.powered and self.local_state(n.name, service) == LocalState.STARTED]

    def check(self) -> None:
        """DESIGN.md §2.1 at every step: a service is held by at most one node."""
        for svc in self.config.services:
            holders = self.holders(svc.name)
            if len(holders) > 1:
                raise InvariantBroken(f"{svc.name} held by {holders} at step "
                                      f"{self.step_count}: " + "; ".join(self.log[-12:]))

    def operator(self, name: str) -> Operator:
        return Operator(self.nodes[name].live)

    def actions(self, name: str) -> list[Any]:
        """Every action node `name` decided, in order."""
        return [a for r in self.nodes[name].results for a in r.actions]

    def events(self, name: str, kind: str) -> list[str]:
        engine = self.nodes[name].engine
        assert engine is not None
        return [e.detail for _, e in engine.events.since(0) if e.kind == kind]

    def close(self) -> None:
        for node in self.nodes.values():
            self.power_off(node.name, "end of test")
            if node.engine is not None:
                node.engine.events.close()


def play(tmp_path: Path, text: str,
         scenario: Callable[[SimCell], Awaitable[None]]) -> SimCell:
    """Run `scenario` on a fresh simulated cell of `text` (in its own event loop), and
    power everything off at the end whatever happened."""
    cell = SimCell(tmp_path, text)

    async def main() -> None:
        try:
            await scenario(cell)
        finally:
            cell.close()

    asyncio.run(main())
    return cell


def cell_text(*, nodes: int = 2, services: str = "", extra: str = "",
              cluster: str = "", token_ms: int = 500) -> str:
    """A cell configuration for the simulation: one ring, a BMC device per node."""
    lines = [f'[cluster]\nname = "sim"\nkey_file = "/k"\n{cluster}',
             f"[timing]\nheartbeat_ms = 100\ntoken_ms = {token_ms}\n",
             "[networks.admin]\nring = 0\n",
             '[fence_devices.bmc]\ntype = "ipmi"\ntimeout_s = 2\n', extra]
    for i in range(1, nodes + 1):
        lines.append(f'[[nodes]]\nname = "n{i}"\nid = {i}\n'
                     f'networks.admin = {{ interface = "eth0", '
                     f'address = "198.51.100.{10 + i}/24" }}\n'
                     f'bmc = {{ address = "198.51.100.{100 + i}", password = "x" }}\n'
                     f'fence = [ {{ devices = ["bmc"] }} ]\n')
    lines.append(services)
    return "\n".join(lines)


def service_text(name: str = "web", nodes: tuple[str, ...] = ("n1", "n2"), *,
                 params: str = "", extra: str = "") -> str:
    """A service of one dummy resource, preferring `nodes` in order."""
    domain = ", ".join(f'"{n}"' for n in nodes)
    return (f'[[services]]\nname = "{name}"\n{extra}'
            f"domain = {{ nodes = [{domain}], restricted = true }}\n"
            f'[[services.resources]]\nname = "{name}-r"\nagent = "dummy"\n'
            f"params = {{ {params} }}\n")
