"""One measured failover in a lab cell: a client probes the service through its
virtual IP, the active node is broken, and we record the client-visible outage and the
surviving engine's timeline (detection, fencing, resource starts, first announcement).

Used by `tandem demo`, by the lab tests and by the failover benchmark, so all three
measure the same thing the same way.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tandem.common.events import EventKind
from tandem.config import ClusterConfig, ServiceDef
from tandem.lab.nodes import NodeControl
from tandem.lab.probe import HttpProbe, outage_ms
from tandem.lab.proc import LabError
from tandem.lab.query import cell_status, node_events
from tandem.lab.wait import wait_for


def service_address(svc: ServiceDef) -> str:
    """The virtual IP of a service (its first `ip` resource)."""
    for res in svc.resources:
        if res.agent == "ip":
            return str(res.params["address"]).split("/")[0]
    raise LabError(f"service {svc.name} has no ip resource to probe")


def _data_dir(svc: ServiceDef) -> str | None:
    for res in svc.resources:
        if res.agent == "fs":
            return str(res.params["mountpoint"])
    return None


def wait_started(control: NodeControl, observer: str, service: str,
                 timeout: float = 60.0, *, not_on: str | None = None) -> str:
    """Wait until `service` is started somewhere (other than `not_on`); its owner."""
    def owner() -> str | None:
        status = cell_status(control, observer)
        row = status.service(service) if status else None
        if row and row.state == "started" and row.owner and row.owner != not_on:
            return row.owner
        return None

    return wait_for(owner, timeout, f"service {service} to start", interval=0.1)


@dataclass
class FailoverResult:
    """What one failover looked like."""

    service: str
    fault: str
    from_node: str
    to_node: str | None
    fault_at: float
    outage_ms: float | None
    fenced: bool
    data_kept: bool | None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    breakdown: dict[str, float | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "fault": self.fault, "from_node": self.from_node,
                "to_node": self.to_node, "outage_ms": _round(self.outage_ms),
                "fenced": self.fenced, "data_kept": self.data_kept,
                "breakdown": {k: _round(v) for k, v in self.breakdown.items()},
                "timeline": self.timeline}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def breakdown(events: list[dict[str, Any]], fault_ms: int, victim: str) -> dict[str, float | None]:
    """Milliseconds from the fault to each step, from the survivor's timeline."""
    def first(pred: Any) -> float | None:
        found = [e["ts_ms"] for e in events if e["ts_ms"] >= fault_ms and pred(e)]
        return float(min(found) - fault_ms) if found else None

    lost = first(lambda e: e["kind"] == EventKind.NODE and e["node"] == victim
                 and "-> lost" in e["detail"])
    fence_start = first(lambda e: e["kind"] == EventKind.FENCE_START and e["node"] == victim)
    fenced = first(lambda e: e["kind"] == EventKind.FENCE_DONE and e["node"] == victim)
    started = first(lambda e: e["kind"] == EventKind.SERVICE_STARTED)
    ip_up = first(lambda e: e["kind"] == EventKind.RESOURCE_START and e.get("resource")
                  and "(ip)" in e["detail"] and e.get("ok"))
    return {"detected_ms": lost, "fence_started_ms": fence_start, "fenced_ms": fenced,
            "fencing_ms": (fenced - fence_start) if fenced is not None
            and fence_start is not None else None,
            "first_announcement_ms": ip_up, "services_started_ms": started,
            "resource_starts_ms": (started - fenced) if started is not None
            and fenced is not None else None}


def run_failover(control: NodeControl, config: ClusterConfig, service: str = "web", *,
                 fault: str = "crash", timeout: float = 60.0) -> FailoverResult:
    """Break the node that runs `service` and measure the takeover."""
    svc = config.service(service)
    observer = config.nodes[0].name
    owner = wait_started(control, observer, service)
    survivor = next(n.name for n in config.nodes if n.name != owner)
    token = uuid.uuid4().hex[:12]
    data_dir = _data_dir(svc)
    if data_dir:
        subprocess.run(control.exec_argv(owner, ["sh", "-c", f"echo {token} > "
                                                             f"{data_dir}/index.html && sync"]),
                       check=True, timeout=30)
    with HttpProbe(control, service_address(svc)) as probe:
        probe.wait_answer(0.0, 30.0, token if data_dir else None)
        fault_at = time.time()
        getattr(control, fault)(owner)
        answer = probe.wait_recovery(fault_at, timeout)
        samples = probe.snapshot()
    new_owner = wait_started(control, survivor, service, timeout, not_on=owner) \
        if answer else None
    events = node_events(control, survivor)
    fault_ms = int(fault_at * 1000)
    timeline = [{"ts_ms": e["ts_ms"], "t_ms": e["ts_ms"] - fault_ms, "kind": e["kind"],
                 "node": e.get("node"), "service": e.get("service"), "detail": e["detail"]}
                for e in events if e["ts_ms"] >= fault_ms]
    return FailoverResult(
        service=service, fault=fault, from_node=owner, to_node=new_owner,
        fault_at=fault_at, outage_ms=outage_ms(samples, fault_at),
        fenced=any(e["kind"] == EventKind.FENCE_DONE and e["node"] == owner for e in timeline),
        data_kept=(token in answer.body) if (answer and data_dir) else None,
        timeline=timeline, breakdown=breakdown(events, fault_ms, owner))
