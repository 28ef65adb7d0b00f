"""The campaign's report: faults by kind, violations, recoveries with their worst and
median times, and what could not be exercised; as text for the terminal, Markdown for
bench/results/campaign.md and JSON for machines. The NFS cell's faults have a section
and a table of their own (their client, their pauses), apart from the other cells'."""

from __future__ import annotations

import platform
import time
from collections import Counter
from typing import Any

from benchlib.report import fixed, median, table
from chaos.campaign import CampaignResult, FaultRecord
from chaos.faults import not_exercised
from chaos.nfsfaults import NFS_KINDS

STALE = "NFS client: stale"


def recovered(faults: list[FaultRecord]) -> list[FaultRecord]:
    """Faults that disrupted a service, and after which every service came back."""
    return [f for f in faults if f.disrupted and f.recovery_s is not None]


def data_faults(result: CampaignResult) -> list[FaultRecord]:
    return [f for f in result.faults if not f.nfs]


def nfs_faults(result: CampaignResult) -> list[FaultRecord]:
    return [f for f in result.faults if f.nfs]


def by_kind_rows(faults: list[FaultRecord], *, pauses: bool = False) -> list[list[object]]:
    """One row per kind and variant; with `pauses`, the NFS client's longest write."""
    rows: list[list[object]] = []
    kinds = Counter((f.kind, f.variant) for f in faults)
    for (kind, variant), count in sorted(kinds.items()):
        group = [f for f in faults if (f.kind, f.variant) == (kind, variant)]
        times = [f.recovery_s for f in group if f.disrupted and f.recovery_s is not None]
        outages = [f.client_outage_s for f in group if f.client_outage_s is not None]
        gap = [f.pause_s for f in group if f.pause_s is not None] if pauses else outages
        rows.append([kind, variant, count, len(times), fixed(median(times)),
                     fixed(max(times, default=None)), fixed(max(gap, default=None)),
                     fixed(max(f.budget_s for f in group), 1),
                     sum(len(f.violations) for f in group)])
    return rows


def _header(result: CampaignResult) -> str:
    opts = result.options
    cells = []
    if data_faults(result) or opts.faults:
        cells.append(f"cells of {', '.join(map(str, opts.sizes))} nodes"
                     + (" and a 2-node cell with a quorum disk" if opts.qdisk else ""))
    if opts.nfs_faults:
        cells.append("a 2-node NFS cell (HA_NFS)")
    return (f"Profile {opts.profile.name} ({opts.profile.describe()}; "
            f"{opts.profile.describe_qdisk()}); {' then '.join(cells)}; "
            f"{result.duration_s / 60:.1f} min on {platform.node()} "
            f"({time.strftime('%Y-%m-%d %H:%M')}).\n")


def markdown(result: CampaignResult) -> str:
    back = recovered(result.faults)
    times = [f.recovery_s for f in back if f.recovery_s is not None]
    violations = result.all_violations()
    unexpected = [f"fault {f.index} ({f.kind}, {f.variant}): {u}"
                  for f in result.faults for u in f.unexpected]
    data = data_faults(result)
    records = [f"- records: {result.acked} acknowledged of {result.attempts} sent; "
               f"{result.verifications} read-backs, every acknowledged record checked each "
               f"time"] if data else []
    missing = [f"- not exercised: "
               f"{', '.join(not_exercised({f.kind for f in data})) or 'none'}"] if data else []
    lines = [
        f"## Reliability campaign: {len(result.faults)} faults, seed {result.options.seed}\n",
        _header(result),
        f"- faults injected: {len(result.faults)} ({_counts(result.faults)})",
        f"- violations: {len(violations)}",
        f"- healthy nodes fenced: {len(result.healthy_fenced())}; daemons that died: "
        f"{len(result.daemon_deaths)}",
        f"- recoveries: {len(back)} of {sum(1 for f in result.faults if f.disrupted)} "
        f"faults that disrupted a service; median {fixed(median(times))} s, worst "
        f"{fixed(max(times, default=None))} s",
        *records, f"- unexpected takeovers or fences: {len(unexpected)}", *missing,
        *(f"- {line}" for line in result.watches),
    ]
    if data:
        lines += ["", table(["kind", "variant", "faults", "recovered", "median (s)",
                             "worst (s)", "worst client gap (s)", "budget (s)",
                             "violations"], by_kind_rows(data))]
    lines += _nfs_lines(result)
    for title, items in (("Violations", violations),
                         ("Healthy nodes fenced", result.healthy_fenced()),
                         ("Daemons that died", result.daemon_deaths),
                         ("Unexpected", unexpected), ("Anomalies", result.anomalies)):
        if items:
            lines.append(f"\n{title}:\n\n" + "\n".join(f"- {i}" for i in items) + "\n")
    return "\n".join(lines)


def _nfs_lines(result: CampaignResult) -> list[str]:
    """The NFS cell's section: its client's records and pauses, its table."""
    faults = nfs_faults(result)
    if not faults:
        return []
    back = recovered(faults)
    times = [f.recovery_s for f in back if f.recovery_s is not None]
    pauses = [f.pause_s for f in faults if f.pause_s is not None]
    stale = sum(1 for v in result.all_violations() if STALE in v)
    return [
        "", f"### NFS cell (HA_NFS): {len(faults)} faults\n",
        f"- faults: {_counts(faults)}; not exercised: "
        f"{', '.join(not_exercised({f.kind for f in faults}, NFS_KINDS)) or 'none'}",
        f"- recoveries (service started again and the client's writes acknowledged "
        f"again): {len(back)} of {sum(1 for f in faults if f.disrupted)}; median "
        f"{fixed(median(times))} s, worst {fixed(max(times, default=None))} s",
        f"- the client's longest write (its pause) per fault: median "
        f"{fixed(median(pauses))} s, worst {fixed(max(pauses, default=None))} s",
        f"- NFSv3 records: {result.nfs_acked} written and committed through one file "
        f"handle; {result.nfs_verifications} read-backs through that handle, every "
        f"acknowledged record checked each time; stale handles: {stale}",
        "", table(["kind", "variant", "faults", "recovered", "median (s)", "worst (s)",
                   "longest client pause (s)", "budget (s)", "violations"],
                  by_kind_rows(faults, pauses=True)),
    ]


def _counts(faults: list[FaultRecord]) -> str:
    kinds = Counter(f.kind for f in faults)
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))


def _figures(faults: list[FaultRecord]) -> dict[str, Any]:
    times = [f.recovery_s for f in recovered(faults) if f.recovery_s is not None]
    return {"by_kind": dict(Counter(f.kind for f in faults)), "recoveries": len(times),
            "recovery_median_s": median(times), "recovery_worst_s": max(times, default=None)}


def to_json(result: CampaignResult) -> dict[str, Any]:
    opts = result.options
    data, nfs = data_faults(result), nfs_faults(result)
    pauses = [f.pause_s for f in nfs if f.pause_s is not None]
    return {"benchmark": "campaign", "seed": opts.seed, "faults_requested": opts.faults,
            "sizes": list(opts.sizes), "qdisk_cell": opts.qdisk, "profile": opts.profile.name,
            "duration_s": round(result.duration_s, 1),
            **_figures(data),
            "violations": result.all_violations(), "anomalies": result.anomalies,
            "healthy_fenced": result.healthy_fenced(), "daemon_deaths": result.daemon_deaths,
            "watches": result.watches, "qdisk_interval_ms": opts.profile.qdisk_interval_ms,
            "qdisk_tko": opts.profile.qdisk_tko,
            "records_acked": result.acked, "records_sent": result.attempts,
            "read_backs": result.verifications,
            "not_exercised": not_exercised({f.kind for f in data}) if data else [],
            "nfs": {"faults_requested": opts.nfs_faults, **_figures(nfs),
                    "pause_median_s": median(pauses),
                    "pause_worst_s": max(pauses, default=None),
                    "records_acked": result.nfs_acked, "writes": result.nfs_attempts,
                    "read_backs": result.nfs_verifications,
                    "stale_handles": sum(1 for v in result.all_violations() if STALE in v),
                    "not_exercised": not_exercised({f.kind for f in nfs}, NFS_KINDS)
                    if nfs else []},
            "faults": [f.to_json() for f in result.faults]}
