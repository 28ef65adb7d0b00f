"""A running cell seen from outside: commands in its nodes, each daemon's status, what
stops it from being whole, and putting it back together after a fault.

Network faults go through this class so that it knows what to heal: cut cables are
recorded by the lab itself (in each node's power record), lossy links only here.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from benchlib.errors import BenchError
from benchlib.labs import Lab
from chaos.cells import AUX, monitor_fail_file, stop_fail_file
from tandem.lab.proc import LabError, is_alive
from tandem.lab.query import Document, node_status
from tandem.lab.state import PowerRecord

Status = Document


@dataclass
class Cell:
    """Commands, status and repairs for one lab cell."""

    lab: Lab
    lossy: set[tuple[str, str]] = field(default_factory=set)
    anomalies: list[str] = field(default_factory=list)
    daemon_deaths: list[str] = field(default_factory=list)
    repowered: int = 0  # nodes fenced again after restore() had powered them on

    @property
    def nodes(self) -> list[str]:
        return self.lab.nodes

    @property
    def services(self) -> list[str]:
        return [s.name for s in self.lab.config.services]

    # -- commands ------------------------------------------------------------------------
    def run(self, node: str, argv: list[str], timeout: float = 30.0,
            ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside `node` (or "client"); LabError if the node is off."""
        return subprocess.run(self.lab.control.exec_argv(node, argv), capture_output=True,
                              text=True, timeout=timeout, check=False)

    def status(self, node: str) -> Status | None:
        """`tandem status --json` of the node's daemon; None if it does not answer."""
        return node_status(self.lab.control, node)

    def statuses(self, nodes: list[str]) -> dict[str, Status | None]:
        """Status of several nodes at once (the CLI's start-up dominates each call)."""
        if not nodes:
            return {}
        with ThreadPoolExecutor(max_workers=min(len(nodes), 8)) as pool:
            return dict(zip(nodes, pool.map(self.status, nodes), strict=True))

    # -- power and cables ------------------------------------------------------------------
    def power(self, node: str) -> PowerRecord:
        return self.lab.control.power(node)

    def usable(self, node: str) -> bool:
        """Powered, running (not hung) and with every cable in."""
        power = self.power(node)
        return power.power == "on" and power.condition == "running" and not power.cut \
            and not any(n == node for n, _ in self.lossy)

    def loss(self, node: str, network: str, pct: float) -> None:
        self.lab.faults.netem(node, network, loss_pct=pct)
        self.lossy.add((node, network))

    def clear_loss(self, node: str, network: str) -> None:
        self.lab.faults.netem(node, network, loss_pct=0)
        self.lossy.discard((node, network))

    # -- whole or not ---------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Why the cell is not whole; empty when every node is up, in, a member seeing
        every other one, quorate, and every service is started where all agree."""
        found = [f"{n} {p.power}/{p.condition}" + (f" cut {','.join(p.cut)}" if p.cut else "")
                 for n in self.nodes if (p := self.power(n)).power != "on"
                 or p.condition != "running" or p.cut]
        found += [f"loss on {n}/{net}" for n, net in sorted(self.lossy)]
        if found:
            return found
        views = self.statuses(self.nodes)
        owners: dict[str, set[str | None]] = {}
        for node, status in views.items():
            if status is None:
                found.append(f"{node}: no status")
                continue
            found += _status_problems(node, status)
            for row in status["services"]:
                owners.setdefault(row["name"], set()).add(row["owner"])
        found += [f"{svc}: owners disagree {sorted(map(str, who))}"
                  for svc, who in owners.items() if len(who) > 1]
        return found

    def wait_whole(self, timeout: float) -> float:
        """Wait until `problems()` is empty; seconds waited. BenchError on timeout."""
        started = time.monotonic()
        deadline = started + timeout
        problems: list[str] = []
        while time.monotonic() < deadline:
            problems = self.problems()
            if not problems:
                return time.monotonic() - started
            # A node powered on by restore() may be fenced right after (its peers had
            # lost it before it came back): power it on again.
            for node in self.nodes:
                if self.power(node).power != "on":
                    self.lab.control.power_on(node)
                    self.repowered += 1
            time.sleep(0.3)
        raise BenchError(f"cell not whole after {timeout:g} s: {'; '.join(problems[:6])}")

    def restore(self) -> list[str]:
        """Undo every fault: plug cables back, clear loss, resume hung nodes, power on
        nodes that are off, restart a daemon that died, remove failure flags."""
        done: list[str] = []
        for node in self.nodes:
            for label in self.power(node).cut:
                network = None if label == "bmc" else label
                self.lab.faults.heal(node, network, bmc=label == "bmc")
                done.append(f"healed {node}/{label}")
        for node, network in sorted(self.lossy):
            self.clear_loss(node, network)
            done.append(f"cleared loss {node}/{network}")
        for node in self.nodes:
            done += self._restore_node(node)
        return done

    def _restore_node(self, node: str) -> list[str]:
        power = self.power(node)
        if power.power != "on":
            self.lab.control.power_on(node)
            return [f"powered on {node}"]
        done = []
        if power.condition == "hung":
            with contextlib.suppress(LabError):  # fenced since we looked: off now
                self.lab.control.resume(node)
                done.append(f"resumed {node}")
        if power.daemon_pid and not is_alive(power.daemon_pid) and \
                self.power(node).power == "on":
            death = f"{time.strftime('%H:%M:%S')} tandemd of {node} had died (node " \
                    f"powered on); restarted it"
            self.anomalies.append(death)
            self.daemon_deaths.append(death)
            with contextlib.suppress(LabError):
                self.lab.control.start_daemon(node)
                done.append(f"restarted tandemd on {node}")
        flags = [stop_fail_file(AUX), monitor_fail_file(AUX)]
        with contextlib.suppress(LabError, subprocess.TimeoutExpired):
            self.run(node, ["rm", "-f", *flags], timeout=10)
        return done


def _status_problems(node: str, status: Status) -> list[str]:
    found = []
    if not status["quorate"]:
        found.append(f"{node}: not quorate")
    others = [f"{row['name']}={row['state']}" for row in status["nodes"]
              if row["state"] != "online"]
    if others:
        found.append(f"{node} sees {' '.join(others)}")
    if status["fencing"]:
        found.append(f"{node} is fencing {status['fencing']}")
    for row in status["services"]:
        if row["state"] != "started" or not row["owner"]:
            found.append(f"{node}: {row['name']} {row['state']}"
                         + (f" ({row['note']})" if row.get("note") else ""))
    return found
