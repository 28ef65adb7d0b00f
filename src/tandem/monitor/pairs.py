"""The manual's "I/O pairs status" (§6.5.1, §6.5.2) from what `tandem cells status`
found over every cell, with no I/O: has a migration happened, is a pair degraded?

Each cell is a pair (the manual's I/O pairs are two-node cells; a bigger cell reads
the same way). Its state, gravest first:

- CRITICAL: a service is not operating (failed, or stopped though enabled), or no
  member runs tandemd although some answered: "the node migration has failed";
- MIGRATED: every service runs, but one runs on another node than its home (the first
  of its failover domain): "successfully migrated to the paired node", no longer highly
  available until an administrator moves it back;
- WARNING: services run, but a member is down (unreachable, no daemon, refused), or a
  service is starting, stopping, recovering or frozen: "a migration may be in progress";
- UNKNOWN: no member of the cell answered at all;
- OK otherwise.

Nagios has no MIGRATED: it exits 1 (WARNING) while the line says MIGRATED. Over all
cells, the gravest pair decides, with UNKNOWN below WARNING (one pair out of reach
does not hide another pair's migration) and above OK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.fleet.nodesets import fold
from tandem.fleet.report import CellOutcome, Outcome
from tandem.monitor.check import (
    AWAY,
    CRITICAL,
    DOWN,
    FROZEN,
    MOVING,
    OK,
    UNKNOWN,
    WARNING,
    WORDS,
    CheckResult,
    Finding,
    Perf,
    service_kind,
    service_perfdata,
    worst,
)

MIGRATED = "MIGRATED"
PAIR_WORDS = ("OK", "WARNING", MIGRATED, "CRITICAL", "UNKNOWN")  # as perfdata lists them
TEXT_ORDER = ("OK", "UNKNOWN", "WARNING", MIGRATED, "CRITICAL")  # the text: gravest first


@dataclass(frozen=True)
class PairStatus:
    """One cell's I/O pair status and why."""

    cell: str
    code: int
    word: str  # OK, WARNING, MIGRATED, CRITICAL or UNKNOWN
    reasons: tuple[str, ...]

    @property
    def finding(self) -> Finding:
        return Finding(self.code, f"{self.cell} {self.word}: " + ", ".join(self.reasons),
                       self.word)


def pair_status(cell: CellOutcome) -> PairStatus:
    """The pair status of one cell, from its members' answers and its services as the
    coordinator (or any member that answered) sees them."""
    if cell.seen_by is None:
        states = "; ".join(f"{n.node} {n.state}" for n in cell.nodes)
        if cell.state == "unreachable":
            return PairStatus(cell.name, UNKNOWN, WORDS[UNKNOWN],
                              (f"no member answered ({states})",))
        return PairStatus(cell.name, CRITICAL, WORDS[CRITICAL],
                          (f"tandemd runs on no member ({states})",))
    findings = [Finding(WARNING, f"{fold(n.node for n in cell.nodes if n.state == state)} "
                                 f"{state}")
                for state in dict.fromkeys(n.state for n in cell.nodes if not n.ok)]
    for service in cell.services:
        kind = service_kind(service.state, service.owner, service.home)
        if kind == DOWN:
            findings.append(Finding(CRITICAL, f"{service.name} {service.state}"))
        elif kind in (MOVING, FROZEN):
            findings.append(Finding(WARNING, f"{service.name} {service.state}"))
        elif kind == AWAY:
            findings.append(Finding(WARNING, f"{service.name} on {service.owner} (home "
                                             f"{service.home})", MIGRATED))
    top = worst(findings)
    ranked = sorted(findings, key=lambda f: f is not top)
    return PairStatus(cell.name, top.code, top.word or WORDS[top.code],
                      tuple(f.text for f in ranked))


def pairs_result(outcome: Outcome) -> CheckResult:
    """The "I/O pairs status" over every cell of `outcome` (a `tandem cells status`)."""
    pairs = [pair_status(cell) for cell in outcome.cells]
    top = worst(p.finding for p in pairs)
    counts = {word: sum(1 for p in pairs if p.word == word) for word in PAIR_WORDS}
    text = f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''}: " + ", ".join(
        f"{n} {word}" for word, n in counts.items() if n)
    troubled = sorted((p for p in pairs if p.code != OK),
                      key=lambda p: (-TEXT_ORDER.index(p.word), p.cell))
    if troubled:
        text += "; " + "; ".join(p.finding.text for p in troubled)
    details = {"pairs": [{"cell": p.cell, "state": p.word, "reasons": list(p.reasons)}
                         for p in pairs]}
    return CheckResult("PAIRS", top.code, top.word or WORDS[top.code], text,
                       _perfdata(pairs, counts, outcome.cells), details)


def _perfdata(pairs: Sequence[PairStatus], counts: dict[str, int],
              cells: Sequence[CellOutcome]) -> tuple[Perf, ...]:
    total = len(pairs)
    thresholds = {"WARNING": ("0", ""), MIGRATED: ("0", ""), "CRITICAL": ("", "0")}
    services = [service_kind(s.state, s.owner, s.home) for c in cells for s in c.services]
    return (
        Perf("pairs", total, low=0),
        *(Perf(f"pairs_{word.lower()}", counts[word], *thresholds.get(word, ("", "")),
               low=0, high=total) for word in PAIR_WORDS),
        *service_perfdata(services, len(services)),
    )
