"""The campaign's report: faults by kind, violations, recoveries with their worst and
median times, and what could not be exercised; as text for the terminal, Markdown for
bench/results/campaign.md and JSON for machines."""

from __future__ import annotations

import platform
import time
from collections import Counter
from typing import Any

from benchlib.report import fixed, median, table
from chaos.campaign import CampaignResult, FaultRecord
from chaos.faults import not_exercised


def recovered(result: CampaignResult) -> list[FaultRecord]:
    """Faults that disrupted a service, and after which every service came back."""
    return [f for f in result.faults if f.disrupted and f.recovery_s is not None]


def by_kind_rows(result: CampaignResult) -> list[list[object]]:
    rows: list[list[object]] = []
    kinds = Counter((f.kind, f.variant) for f in result.faults)
    for (kind, variant), count in sorted(kinds.items()):
        faults = [f for f in result.faults if (f.kind, f.variant) == (kind, variant)]
        times = [f.recovery_s for f in faults if f.disrupted and f.recovery_s is not None]
        outages = [f.client_outage_s for f in faults if f.client_outage_s is not None]
        rows.append([kind, variant, count, len(times), fixed(median(times)),
                     fixed(max(times, default=None)), fixed(max(outages, default=None)),
                     fixed(max(f.budget_s for f in faults), 1),
                     sum(len(f.violations) for f in faults)])
    return rows


def markdown(result: CampaignResult) -> str:
    opts = result.options
    back = recovered(result)
    times = [f.recovery_s for f in back if f.recovery_s is not None]
    violations = result.all_violations()
    unexpected = [f"fault {f.index} ({f.kind}, {f.variant}): {u}"
                  for f in result.faults for u in f.unexpected]
    lines = [
        f"## Reliability campaign: {len(result.faults)} faults, seed {opts.seed}\n",
        f"Profile {opts.profile.name} ({opts.profile.describe()}; "
        f"{opts.profile.describe_qdisk()}); cells of {', '.join(map(str, opts.sizes))} nodes"
        f"{' and a 2-node cell with a quorum disk' if opts.qdisk else ''}; "
        f"{result.duration_s / 60:.1f} min on {platform.node()} "
        f"({time.strftime('%Y-%m-%d %H:%M')}).\n",
        f"- faults injected: {len(result.faults)} ({_counts(result)})",
        f"- violations: {len(violations)}",
        f"- healthy nodes fenced: {len(result.healthy_fenced())}; daemons that died: "
        f"{len(result.daemon_deaths)}",
        f"- recoveries: {len(back)} of {sum(1 for f in result.faults if f.disrupted)} "
        f"faults that disrupted a service; median {fixed(median(times))} s, worst "
        f"{fixed(max(times, default=None))} s",
        f"- records: {result.acked} acknowledged of {result.attempts} sent; "
        f"{result.verifications} read-backs, every acknowledged record checked each time",
        f"- unexpected takeovers or fences: {len(unexpected)}",
        f"- not exercised: {', '.join(_missing(result)) or 'none'}",
        *(f"- {line}" for line in result.watches), "",
        table(["kind", "variant", "faults", "recovered", "median (s)", "worst (s)",
               "worst client gap (s)", "budget (s)", "violations"], by_kind_rows(result)),
    ]
    for title, items in (("Violations", violations),
                         ("Healthy nodes fenced", result.healthy_fenced()),
                         ("Daemons that died", result.daemon_deaths),
                         ("Unexpected", unexpected), ("Anomalies", result.anomalies)):
        if items:
            lines.append(f"\n{title}:\n\n" + "\n".join(f"- {i}" for i in items) + "\n")
    return "\n".join(lines)


def _missing(result: CampaignResult) -> list[str]:
    return not_exercised({f.kind for f in result.faults})


def _counts(result: CampaignResult) -> str:
    kinds = Counter(f.kind for f in result.faults)
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))


def to_json(result: CampaignResult) -> dict[str, Any]:
    opts = result.options
    times = [f.recovery_s for f in recovered(result) if f.recovery_s is not None]
    return {"benchmark": "campaign", "seed": opts.seed, "faults_requested": opts.faults,
            "sizes": list(opts.sizes), "qdisk_cell": opts.qdisk, "profile": opts.profile.name,
            "duration_s": round(result.duration_s, 1),
            "by_kind": dict(Counter(f.kind for f in result.faults)),
            "violations": result.all_violations(), "anomalies": result.anomalies,
            "healthy_fenced": result.healthy_fenced(), "daemon_deaths": result.daemon_deaths,
            "watches": result.watches, "qdisk_interval_ms": opts.profile.qdisk_interval_ms,
            "qdisk_tko": opts.profile.qdisk_tko,
            "recoveries": len(times), "recovery_median_s": median(times),
            "recovery_worst_s": max(times, default=None),
            "records_acked": result.acked, "records_sent": result.attempts,
            "read_backs": result.verifications, "not_exercised": _missing(result),
            "faults": [f.to_json() for f in result.faults]}
