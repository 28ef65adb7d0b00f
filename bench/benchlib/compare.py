"""Side-by-side comparison of the variants measured in one run: the table (with each
median's ratio to tandem's), the JSON entries, and the files under bench/results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import report
from benchlib.runs import Run
from benchlib.variants import Variant

Results = list[tuple[Variant, list[Run]]]
Say = Callable[[str], None]


def medians(results: Results) -> dict[str, float | None]:
    return {v.key: report.summarize(runs)["median_ms"] for v, runs in results}


def entries(results: Results, targets: dict[str, float], requested: int
            ) -> list[dict[str, Any]]:
    """One JSON object per variant: summary, ratios to tandem, every run."""
    base = medians(results)
    found = []
    for variant, series in results:
        summary = report.summarize(series)
        median = summary["median_ms"]
        entry: dict[str, Any] = {
            "key": variant.key, "family": variant.family, "setting": variant.setting,
            "summary": summary, "runs_requested": requested,
            "ratio_to_tandem_default": report.ratio(median, base.get("tandem-default")),
            "ratio_to_tandem_fast": report.ratio(median, base.get("tandem-fast")),
            "target_ms": targets.get(variant.key),
            "runs": [r.to_json() for r in series]}
        if variant.family == "tandem" and any(r.breakdown for r in series):
            entry["breakdown_median_ms"] = report.breakdown_medians(series)
        found.append(entry)
    return found


def table(found: list[dict[str, Any]], what: str) -> str:
    """Markdown table of `entries` (what: the measured quantity, e.g. "outage")."""
    header = ["stack", "setting", f"{what} min / median / max (s)", "runs ok", "owner fenced",
              "healthy node fenced", "median vs tandem default", "median vs tandem fast"]
    rows = []
    for e in found:
        s = e["summary"]
        rows.append([e["family"], e["setting"],
                     " / ".join(report.seconds(s[k]) for k in ("min_ms", "median_ms", "max_ms")),
                     f"{s['ok']}/{e['runs_requested']}", str(s["owner_fenced"]),
                     str(s["healthy_node_fenced"]),
                     report.times(e["ratio_to_tandem_default"]),
                     report.times(e["ratio_to_tandem_fast"])])
    return report.table(header, rows)


def targets_text(found: list[dict[str, Any]], condition: str) -> str:
    lines = [f"- {e['key']}: median {report.seconds(e['summary']['median_ms'])} s, target "
             f"<= {e['target_ms'] / 1000:g} s{condition}"
             for e in found if e.get("target_ms")]
    return ("Targets (shown, not asserted):\n\n" + "\n".join(lines) + "\n") if lines else ""


def save(name: str, data: dict[str, Any], markdown: str, results: Results, *, title: str,
         lines: list[tuple[str, float]], say: Say,
         what: str = "client-visible outage") -> list[Path]:
    """results/NAME.json, .md and .png (the chart needs matplotlib)."""
    paths = report.write_results(name, data, markdown)
    chart = report.dot_chart(report.RESULTS / f"{name}.png", title,
                             [(v.label, report.outages(runs)) for v, runs in results], lines,
                             what=what)
    if chart is None:
        say("matplotlib is missing: no chart")
    paths += [chart] if chart else []
    for path in paths:
        say(f"wrote {path}")
    return paths


def any_failed(results: Results) -> bool:
    return any(report.summarize(runs)["no_answer_or_error"] for _, runs in results)
