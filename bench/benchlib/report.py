"""Figures out of runs: summaries, ratios, and the files under bench/results
(JSON with every run, a markdown table for the README, a PNG chart)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tandem
from benchlib.runs import Run

RESULTS = Path(__file__).resolve().parents[1] / "results"
BREAKDOWN_STEPS = (("detected_ms", "detection"), ("fencing_ms", "fencing"),
                   ("resource_starts_ms", "resource starts"),
                   ("first_announcement_ms", "first gratuitous ARP (after the fault)"),
                   ("services_started_ms", "service started (after the fault)"))


def spread(values: list[float]) -> dict[str, float | None]:
    """min / median / max (None for an empty list)."""
    ordered = sorted(values)
    if not ordered:
        return {"min_ms": None, "median_ms": None, "max_ms": None}
    return {"min_ms": round(ordered[0], 1), "median_ms": round(statistics.median(ordered), 1),
            "max_ms": round(ordered[-1], 1)}


def outages(runs: list[Run]) -> list[float]:
    """The lab probe's outages of the runs that ended with an answer."""
    return [r.outage_ms for r in runs if r.outage_ms is not None and not r.error]


def summarize(runs: list[Run]) -> dict[str, Any]:
    """min / median / max of the outages that ended, and what went wrong otherwise."""
    values = outages(runs)
    return {
        "runs": len(runs), "ok": len(values), **spread(values),
        "no_answer_or_error": len(runs) - len(values),
        "healthy_node_fenced": sum(1 for r in runs if r.healthy_fenced),
        "owner_fenced": sum(1 for r in runs if r.victim_fenced),
        "data_kept": sum(1 for r in runs if r.data_kept),
    }


def breakdown_medians(runs: list[Run]) -> dict[str, float | None]:
    """Median of each step of tandem's own timeline over the runs."""
    medians: dict[str, float | None] = {}
    for key, _ in BREAKDOWN_STEPS:
        values = [r.breakdown[key] for r in runs if r.breakdown.get(key) is not None]
        medians[key] = round(statistics.median(values), 1) if values else None
    return medians


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 2)


def seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.3f}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def environment() -> dict[str, Any]:
    """Where and with what the figures were taken."""
    src = Path(tandem.__file__).resolve().parents[2]
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(src), *args], capture_output=True,
                              text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "kernel": platform.release(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "tandem_source": str(src),
            "tandem_commit": commit or None,
            "tandem_src_modified": bool(git("status", "--porcelain", "src")) if commit
            else None}


def write_results(name: str, data: dict[str, Any], markdown: str) -> list[Path]:
    """results/NAME.json and results/NAME.md; returns the paths written."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    md_path = RESULTS / f"{name}.md"
    md_path.write_text(markdown)
    return [json_path, md_path]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table (also readable as plain text); cells are shown with str()."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])]) + "\n"


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def fixed(value: float | None, digits: int = 2) -> str:
    """A figure with `digits` decimals ("-" for none)."""
    return "-" if value is None else f"{value:.{digits}f}"


def dot_chart(path: Path, title: str, series: list[tuple[str, list[float]]],
              targets: list[tuple[str, float]], *, what: str = "client-visible outage",
              log: bool = True) -> Path | None:
    """One row of dots per series (every run) with its median marked; None without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.4 * max(len(series), 1)), dpi=100)
    for row, (_, values) in enumerate(series):
        ax.scatter([v / 1000 for v in values], [row] * len(values), s=14, alpha=0.6)
        if values:
            ax.plot([statistics.median(values) / 1000] * 2, [row - 0.3, row + 0.3],
                    color="black", linewidth=2)
    styles = ("--", ":", "-.")
    for index, (label, value) in enumerate(targets):
        ax.axvline(value / 1000, linestyle=styles[index % len(styles)], linewidth=1,
                   color="grey", label=label)
    if targets:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25),
                  ncol=len(targets), frameon=False)
    ax.set_yticks(range(len(series)), [label for label, _ in series], fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(f"{what} (s); bar = median", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
