"""The measuring loops: N failovers (power loss of the owner) and N planned relocations
of one stack, each followed by bringing the cell back to two nodes.

Who was fenced is read from the virtual BMCs' own logs (every power request they
served), not from the stack, so the same check holds for every stack: the crashed node
may be powered off by the survivor; the healthy node must never be.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchlib.cells import service_vip
from benchlib.errors import BenchError
from benchlib.labs import Lab
from benchlib.runs import Run, client_gap_ms
from benchlib.stacks.base import FAILOVER_TIMEOUT_S, Stack
from tandem.lab.probe import HttpProbe
from tandem.lab.proc import LabError

Say = Callable[[str], None]
# "BMC 198.51.100.101: power off from 198.51.100.12: already off (switched in 0 ms)"
POWER_REQUEST = re.compile(r"BMC \S+: power (off|cycle|reset|soft) from ")


class BmcLogs:
    """Power-off requests each node's BMC served since this object was made."""

    def __init__(self, lab: Lab) -> None:
        self.paths = {n: lab.names.bmc_log(n) for n in lab.nodes}
        self.offsets = {n: _size(p) for n, p in self.paths.items()}

    def power_offs(self, node: str) -> list[str]:
        path = self.paths[node]
        try:
            with path.open("rb") as handle:
                handle.seek(self.offsets[node])
                text = handle.read().decode(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if POWER_REQUEST.search(line)]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _ms(value: float | None) -> str:
    return "no answer" if value is None else f"{value:.0f} ms"


def one_failover(stack: Stack) -> Run:
    """One power loss of the owner, checked for fencing on both sides."""
    lab = stack.lab
    owner = stack.wait_ready()
    survivor = lab.other(owner)
    boot = lab.control.power(survivor).init_pid
    logs = BmcLogs(lab)
    run = stack.failover()
    if run.from_node != owner:
        raise BenchError(f"{stack.label}: the service moved before the fault")
    run.victim_fenced = bool(logs.power_offs(owner))
    survivor_state = lab.control.power(survivor)
    run.healthy_fenced = bool(logs.power_offs(survivor)) or survivor_state.power != "on" \
        or survivor_state.init_pid != boot
    return run


def one_relocation(stack: Stack) -> Run:
    """One planned move of the service to the other node, probed by the client."""
    lab = stack.lab
    owner = stack.wait_ready()
    target = lab.other(owner)
    token = uuid.uuid4().hex[:12]
    stack.put_content(owner, token)
    logs = BmcLogs(lab)
    with HttpProbe(lab.control, service_vip(lab.config)) as probe:
        probe.wait_answer(0.0, 30.0, token)
        asked_at = time.time()
        stack.relocate(target)
        done_at = time.time()
        try:
            answer = probe.wait_answer(done_at, FAILOVER_TIMEOUT_S)
        except TimeoutError:
            answer = None
        time.sleep(0.2)
        samples, until = probe.snapshot(), time.time()
    fenced = any(logs.power_offs(n) for n in lab.nodes)
    if answer is None:
        return Run(outage_ms=None, from_node=owner, to_node=None, healthy_fenced=fenced,
                   fault_at=asked_at)
    return Run(outage_ms=client_gap_ms(samples, asked_at, until), from_node=owner,
               to_node=stack.owner(), healthy_fenced=fenced, fault_at=asked_at,
               data_kept=token in answer.body)


def _diagnosis(stack: Stack) -> str:
    try:
        return stack.diagnose()
    except (BenchError, LabError, OSError) as exc:
        return f"(no diagnosis: {exc})"


def repeat(stack: Stack, kind: str, runs: int, say: Say) -> list[Run]:
    """`runs` failovers or relocations; the cell is made whole again after each."""
    measure = one_failover if kind == "failover" else one_relocation
    results: list[Run] = []
    for index in range(runs):
        try:
            run = measure(stack)
        except (BenchError, LabError, TimeoutError) as exc:
            run = Run(outage_ms=None, from_node="?", to_node=None, error=str(exc),
                      diagnosis=_diagnosis(stack))
            say(run.diagnosis or "")
        results.append(run)
        flags = " HEALTHY NODE FENCED" if run.healthy_fenced else ""
        fenced = {True: ", owner fenced", False: ", owner not fenced", None: ""}
        say(f"{stack.label}: {kind} {index + 1}/{runs}: {_ms(run.outage_ms)} "
            f"({run.from_node} -> {run.to_node or '?'}"
            f"{fenced[run.victim_fenced if kind == 'failover' else None]}){flags}"
            + (f" error: {run.error}" if run.error else ""))
        try:
            stack.recover()
        except (BenchError, LabError) as exc:
            say(f"{stack.label}: the cell did not come back ({exc}); stopping this series")
            run.diagnosis = _diagnosis(stack)
            say(run.diagnosis)
            break
    return results
