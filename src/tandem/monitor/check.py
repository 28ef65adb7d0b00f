"""Nagios/Icinga plugin results from status documents, with no I/O: the cell's "HA System
Status" (the manual's §4.1 Nagios service) from one daemon's `CellStatus`.

A plugin says one thing in three ways: its exit code (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN), one line `TANDEM SERVICE STATE - text | perfdata`, and performance data in
the standard `label=value[UOM];warn;crit;min;max` form, whose warn and crit thresholds
are ranges ("2:" alerts below 2, "0" above 0) consistent with the state the rules give.
The I/O pairs check (tandem.monitor.pairs) builds on the same pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tandem.common.status import CellStatus, ServiceStatus

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
WORDS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# Which of two codes is graver when findings are combined: CRITICAL over WARNING over
# UNKNOWN over OK (what a problem found outranks what could not be found out).
GRAVITY = (OK, UNKNOWN, WARNING, CRITICAL)

# What a service's state means for monitoring, shared by the cell and the pairs check.
DOWN = "down"            # failed, blocked, or stopped though enabled: not running
MOVING = "moving"        # starting, stopping, recovering: a move may be in progress
FROZEN = "frozen"        # an operator froze it: nothing watches it
AWAY = "away"            # started, but not on the first node of its failover domain
RUNNING = "running"      # started where it belongs
OFF = "off"              # disabled by an operator: not expected to run
_TRANSIENT = ("starting", "stopping", "recovering")


@dataclass(frozen=True)
class Perf:
    """One performance datum; thresholds are Nagios ranges as text ("" when none)."""

    label: str
    value: float
    warn: str = ""
    crit: str = ""
    low: float | None = None
    high: float | None = None
    uom: str = ""

    def render(self) -> str:
        label = f"'{self.label}'" if re.search(r"[\s'=]", self.label) else self.label
        tail = ";".join([self.warn, self.crit, _number(self.low), _number(self.high)])
        return f"{label}={_number(self.value)}{self.uom};{tail}".rstrip(";")


@dataclass(frozen=True)
class Finding:
    """One thing a check noticed: the code it calls for and how it reads."""

    code: int
    text: str
    word: str = ""  # the state word it shows when it decides (MIGRATED); "" as code


@dataclass(frozen=True)
class CheckResult:
    """A plugin's answer: exit code, state word, one line of text, performance data."""

    service: str
    code: int
    word: str
    text: str
    perfdata: tuple[Perf, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # for --json only

    def line(self) -> str:
        """The plugin's one line of output."""
        perf = " ".join(p.render() for p in self.perfdata)
        text = " ".join(self.text.replace("|", "/").split())  # one line, no perf separator
        return f"TANDEM {self.service} {self.word} - {text}" + (f" | {perf}" if perf else "")

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "code": self.code, "state": self.word,
                "text": self.text, "line": self.line(),
                "perfdata": [p.render() for p in self.perfdata], **self.details}


def unknown(service: str, reason: str) -> CheckResult:
    """The answer when the check could not find out (daemon or cells unreachable)."""
    return CheckResult(service, UNKNOWN, WORDS[UNKNOWN], reason)


def worst(findings: Iterable[Finding]) -> Finding:
    """The gravest finding (the first of equals); an OK one when there is none."""
    return max(findings, key=lambda f: (GRAVITY.index(f.code), f.word == "MIGRATED"),
               default=Finding(OK, ""))


def service_kind(state: str, owner: str | None, home: str | None, note: str = "") -> str:
    """What a service's displayed state (tandem.manager.display) means to monitoring.

    "stopped" is shown only for an enabled service that no node holds, "disabled" for
    one an operator stopped; a recovering service whose note says "blocked" waits for
    an operator (a stop failed), not for a move."""
    if state in ("failed", "stopped") or (state == "recovering"
                                          and note.startswith("blocked")):
        return DOWN
    if state in _TRANSIENT:
        return MOVING
    if state == "frozen":
        return FROZEN
    if state == "started":
        return AWAY if home is not None and owner is not None and owner != home else RUNNING
    return OFF


# -- the cell's HA System Status ----------------------------------------------------------
def cell_result(status: CellStatus, homes: Mapping[str, str | None]) -> CheckResult:
    """The "HA System Status" of the cell `status` describes. `homes`: each service's
    preferred node (from the node's configuration; a service missing is not judged on
    where it runs).

    CRITICAL: not quorate, a service down (failed, blocked, stopped though enabled), a
    manual fence waiting for an operator. WARNING: a member not online (lost, unclean,
    fencing, fenced, offline), a ring down or degraded, a service moving, frozen or away from
    home, a fence device that fails its check, the quorum disk offline, the start-up
    probe not done. OK otherwise. A ring whose state is unknown (no peer left to hear
    on it) is counted in the performance data but is no finding of its own."""
    kinds = {s.name: service_kind(s.state, s.owner, homes.get(s.name), s.note)
             for s in status.services}
    findings = [*_membership_findings(status),
                *(f for s in status.services
                  if (f := _service_finding(s, kinds[s.name], homes.get(s.name)))),
                *_fencing_findings(status)]
    top = worst(findings)
    summary = _cell_summary(status, kinds)
    problems = [f.text for f in sorted(findings, key=lambda f: -GRAVITY.index(f.code))]
    text = f"{status.cluster}: " + "; ".join(problems) + f" ({summary})" if problems \
        else f"{status.cluster} {summary}"
    return CheckResult("CELL", top.code, WORDS[top.code], text, _cell_perfdata(status, kinds))


def _membership_findings(status: CellStatus) -> list[Finding]:
    found = []
    if not status.quorate:
        found.append(Finding(CRITICAL, f"not quorate: {status.quorum.reason}"))
    found += [Finding(WARNING, f"node {n.name} {n.state}")
              for n in status.nodes if n.state != "online"]
    # A ring is "unknown" when no peer is left to hear on it: the lost node says it all.
    found += [Finding(WARNING, f"ring {r.ring} ({r.network}) {r.state}")
              for r in status.rings if r.state in ("down", "degraded")]
    if status.qdisk is not None and not status.qdisk.online:
        found.append(Finding(WARNING, f"quorum disk {status.qdisk.device} offline"))
    if not status.probed:
        found.append(Finding(WARNING, "start-up probe of local services not done"))
    return found


def _service_finding(service: ServiceStatus, kind: str, home: str | None) -> Finding | None:
    note = f" ({service.note})" if service.note else ""
    if kind == DOWN:
        return Finding(CRITICAL, f"service {service.name} {service.state}{note}")
    if kind in (MOVING, FROZEN):
        return Finding(WARNING, f"service {service.name} {service.state}{note}")
    if kind == AWAY:
        return Finding(WARNING, f"service {service.name} on {service.owner}, not its home "
                                f"{home}")
    return None


def _fencing_findings(status: CellStatus) -> list[Finding]:
    found = [Finding(CRITICAL, f"waiting for an operator: tandem fence ack {node}")
             for node in status.manual_fence_pending]
    found += [Finding(WARNING, f"fence device {d.device} for {d.node} failed")
              for d in status.fence_devices if d.state == "failed"]
    return found


def _cell_summary(status: CellStatus, kinds: Mapping[str, str]) -> str:
    online = sum(1 for n in status.nodes if n.state == "online")
    rings = sum(1 for r in status.rings if r.state == "up")
    started = sum(1 for k in kinds.values() if k in (RUNNING, AWAY))
    return (f"{'quorate' if status.quorate else 'NOT quorate'}, {online}/{len(status.nodes)}"
            f" members online, {rings}/{len(status.rings)} rings up, {started}/"
            f"{len(kinds)} services started")


def _cell_perfdata(status: CellStatus, kinds: Mapping[str, str]) -> tuple[Perf, ...]:
    members, rings, services = len(status.nodes), len(status.rings), len(kinds)
    quorum = status.quorum
    return (
        Perf("members_online", sum(1 for n in status.nodes if n.state == "online"),
             warn=f"{members}:", low=0, high=members),
        Perf("votes", quorum.votes, crit=f"{quorum.needed}:", low=0, high=quorum.expected),
        Perf("quorum", quorum.needed, low=0, high=quorum.expected),
        Perf("rings_up", sum(1 for r in status.rings if r.state == "up"),
             warn=f"{rings}:", low=0, high=rings),
        *service_perfdata(kinds.values(), services),
    )


def service_perfdata(kinds: Iterable[str], total: int) -> tuple[Perf, ...]:
    """Services started, down (critical above 0) and away from home (warning above 0)."""
    counted = list(kinds)
    return (
        Perf("services_started", sum(1 for k in counted if k in (RUNNING, AWAY)),
             low=0, high=total),
        Perf("services_down", counted.count(DOWN), crit="0", low=0, high=total),
        Perf("services_away", counted.count(AWAY), warn="0", low=0, high=total),
    )


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"

