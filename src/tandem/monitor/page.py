"""The management node's status page, as data and as HTML, with no I/O.

A snapshot is what one refresh of `tandem page` found (tandem.monitor.pagesrv gathers
it through the same fan-out as `tandem cells status`): per cell, its members' answers,
its I/O pair status (tandem.monitor.pairs), and what one member said of the whole cell
(quorum, members, services, fence devices, last events). A cell none of whose members
answered keeps the last thing one said, shown with its age, so an operator sees what
was true last and how old it is rather than an empty tile.

The HTML is one self-contained document (no external asset: the management node may
have no way out), every value escaped, tiles that stack on a narrow screen, and a small
inline script that swaps in a fresh copy every interval without losing the scroll
position (a <noscript> meta refresh otherwise). Rows carry data-* attributes so that
scripts and tests read states without parsing the text.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from tandem.common.status import CellStatus, FenceDeviceStatus, NodeStatus
from tandem.fleet.report import CellOutcome, ServiceView
from tandem.monitor.pairs import PairStatus

EVENT_KEYS = ("ts_ms", "kind", "node", "service", "detail")  # all the page shows of one


@dataclass(frozen=True)
class Seen:
    """What one member said of its cell at one moment: kept as the last good data
    while no member answers."""

    by: str
    at: float  # wall-clock time of the answer
    status: CellStatus
    services: tuple[ServiceView, ...]  # with each service's home node
    events: tuple[Mapping[str, Any], ...] = ()
    events_note: str = ""  # why there are no events ("" when they were read)

    def to_json(self, now: float) -> dict[str, Any]:
        return {"by": self.by, "at": self.at, "age_s": round(now - self.at, 1),
                "status": self.status.to_json(),
                "services": [vars(s) | {"migrated": s.migrated} for s in self.services],
                "events": [dict(e) for e in self.events], "events_note": self.events_note}


@dataclass(frozen=True)
class Tile:
    """One cell on the page."""

    cell: CellOutcome  # this refresh's answers
    pair: PairStatus
    seen: Seen | None  # this refresh's, or the last good one, or none ever

    @property
    def answered(self) -> bool:
        return self.cell.seen_by is not None

    def to_json(self, now: float) -> dict[str, Any]:
        return self.cell.to_json() | {
            "answered": self.answered,
            "pair": {"state": self.pair.word, "reasons": list(self.pair.reasons)},
            "seen": self.seen.to_json(now) if self.seen else None}


@dataclass(frozen=True)
class Snapshot:
    """One refresh over every selected cell."""

    at: float  # wall-clock time the refresh ended
    took_s: float
    word: str  # the gravest pair state (as `tandem check pairs`)
    summary: str  # its text
    tiles: tuple[Tile, ...]
    note: str = ""  # a refresh that failed, or where services run was not recorded

    def to_json(self, now: float) -> dict[str, Any]:
        return {"at": self.at, "age_s": round(now - self.at, 1),
                "took_s": round(self.took_s, 3), "state": self.word,
                "summary": self.summary, "note": self.note,
                "cells": [t.to_json(now) for t in self.tiles]}


# -- the document ------------------------------------------------------------------------
CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.35 system-ui,sans-serif;background:#f3f4f6;color:#111}
header.top{padding:.6rem 1rem;background:#1f2937;color:#fff}
header.top h1{font-size:1.1rem;margin:0 .6rem 0 0;display:inline}
.meta{font-size:.85rem;color:#555;margin:.4rem 1rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(24rem,1fr));gap:.8rem;
 padding:.8rem}
@media (max-width:40rem){.tiles{grid-template-columns:1fr;padding:.4rem}
 body{font-size:14px}}
.tile{background:#fff;border-radius:6px;border-left:6px solid #9ca3af;padding:.5rem .7rem;
 min-width:0}
.tile h2{font-size:1.05rem;margin:0;display:inline}
.tile h3{font-size:.8rem;text-transform:uppercase;color:#555;margin:.6rem 0 .2rem}
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;font-size:.8rem;
 font-weight:600;background:#9ca3af;color:#fff;margin-left:.4rem}
.OK{border-color:#16a34a}.OK .badge,.badge.OK{background:#16a34a}
.WARNING{border-color:#d97706}.WARNING .badge,.badge.WARNING{background:#d97706}
.MIGRATED{border-color:#7c3aed}.MIGRATED .badge,.badge.MIGRATED{background:#7c3aed}
.CRITICAL{border-color:#dc2626}.CRITICAL .badge,.badge.CRITICAL{background:#dc2626}
.UNKNOWN .badge,.badge.UNKNOWN{background:#6b7280}
.why,.stale,.note{margin:.3rem 0;font-size:.9rem}
.stale,.note{color:#b45309;font-weight:600}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
td,th{text-align:left;padding:.1rem .4rem .1rem 0;vertical-align:top}
th{color:#555;font-weight:500}
.bad{color:#dc2626;font-weight:600}.warn{color:#b45309}
ol.events{list-style:none;padding:0;margin:0;font-size:.85rem}
ol.events li{border-left:2px solid #d1d5db;padding-left:.4rem;margin-bottom:.15rem}
ol.events time{font-family:ui-monospace,monospace}
.gap{color:#6b7280;font-size:.8rem}
"""
_BAD = {"lost", "fenced", "failed", "blocked", "unreachable", "refused", "stopped", "blank",
        "down", "offline"}


def refresh_script(refresh_s: float) -> str:
    """The inline script that swaps in a fresh copy of the page's content."""
    return (
        "setInterval(function(){fetch(location.pathname,{cache:'no-store'})"
        ".then(function(r){if(!r.ok)throw r.status;return r.text()})"
        ".then(function(t){var d=new DOMParser().parseFromString(t,'text/html');"
        "document.getElementById('page').replaceWith(d.getElementById('page'));"
        "document.getElementById('conn').textContent=''})"
        ".catch(function(){document.getElementById('conn').textContent="
        "'the page server does not answer: showing older data'})},"
        f"{int(refresh_s * 1000)});")


def content_policy(refresh_s: float) -> str:
    """A Content-Security-Policy that lets only this page's own script and style run
    (a value that escaped escaping could not run a script of its own)."""
    digest = base64.b64encode(hashlib.sha256(refresh_script(refresh_s).encode()).digest())
    return (f"default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; "
            f"script-src 'sha256-{digest.decode()}'; base-uri 'none'; form-action 'none'")


def render(snapshot: Snapshot | None, now: float, *, refresh_s: float,
           title: str = "tandem cells") -> str:
    """The whole page for `snapshot` (None: no refresh has ended yet), as of `now`."""
    every = max(1, round(refresh_s))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{CSS}</style>"
        f"<noscript><meta http-equiv=\"refresh\" content=\"{every}\"></noscript>"
        f"</head><body><p id=\"conn\" class=\"note\"></p>"
        f"{_page(snapshot, now, title)}"
        f"<script>{refresh_script(refresh_s)}</script></body></html>\n")


def _page(snapshot: Snapshot | None, now: float, title: str) -> str:
    if snapshot is None:
        return (f"<div id=\"page\"><header class=\"top\"><h1>{escape(title)}</h1></header>"
                "<p class=\"meta\">waiting for the first answers from the cells</p></div>")
    cells = len(snapshot.tiles)
    meta = (f"{cells} cell{'s' if cells != 1 else ''} · data of "
            f"{_clock(snapshot.at)} ({_age(now - snapshot.at)} ago, read in "
            f"{snapshot.took_s:.1f} s)")
    note = f"<p class=\"note meta\">{escape(snapshot.note)}</p>" if snapshot.note else ""
    tiles = "".join(_tile(t, now) for t in snapshot.tiles)
    return (f"<div id=\"page\" data-state=\"{escape(snapshot.word)}\">"
            f"<header class=\"top\"><h1>{escape(title)}</h1>"
            f"<span class=\"badge {escape(snapshot.word)}\">{escape(snapshot.word)}</span>"
            f"</header><p class=\"meta\">{escape(snapshot.summary)}</p>"
            f"<p class=\"meta\">{meta}</p>{note}<main class=\"tiles\">{tiles}</main></div>")


def _tile(tile: Tile, now: float) -> str:
    cell, seen = tile.cell, tile.seen
    word = tile.pair.word
    parts = [f"<header><h2>{escape(cell.name)}</h2>"
             f"<span class=\"badge\">{escape(word)}</span> "
             f"<span class=\"gap\">{escape(cell.kind)} · {escape(cell.state)}</span></header>"]
    if tile.pair.reasons:
        parts.append(f"<p class=\"why\">{escape('; '.join(tile.pair.reasons))}</p>")
    if not tile.answered:
        last = (f"last good data {_age(now - seen.at)} old (from {seen.by})" if seen
                else "no data yet")
        parts.append(f"<p class=\"stale\">no member answered: {escape(last)}</p>")
    if seen is not None:
        parts += [_quorum(seen), _members(tile, seen.status, now),
                  _services(seen.services), _fence(seen.status.fence_devices, now),
                  _events(seen, now)]
    else:
        parts.append(_members(tile, None, now))
    return (f"<section class=\"tile {escape(word)}\" data-cell=\"{escape(cell.name)}\" "
            f"data-state=\"{escape(word)}\" data-answered=\"{str(tile.answered).lower()}\">"
            f"{''.join(parts)}</section>")


def _quorum(seen: Seen) -> str:
    status = seen.status
    quorum = status.quorum
    state = "quorate" if status.quorate else "NOT quorate"
    flags = [f"{quorum.votes}/{quorum.expected} votes (needs {quorum.needed})",
             f"coordinator {status.coordinator or 'none'}", f"seen by {seen.by}"]
    if status.manual_fence_pending:
        flags.append("manual fence waiting for " + ", ".join(status.manual_fence_pending))
    if status.locked:
        flags.append("locked")
    cls = "" if status.quorate else " class=\"bad\""
    return (f"<p class=\"quorum\" data-quorate=\"{str(status.quorate).lower()}\">"
            f"<b{cls}>{state}</b> · {escape(' · '.join(flags))}</p>")


def _members(tile: Tile, status: CellStatus | None, now: float) -> str:
    """One row per member: its state in the cell's view, and whether it answered us."""
    answers = {n.node: n for n in tile.cell.nodes}
    views: dict[str, NodeStatus] = {n.name: n for n in status.nodes} if status else {}
    rows = []
    for name in dict.fromkeys([*views, *answers]):
        view, answer = views.get(name), answers.get(name)
        state = view.state if view else "?"
        since = _age(now - view.since) if view and view.since else ""
        reach = answer.state if answer else "not selected"
        detail = answer.detail if answer and not answer.ok else ""
        rows.append(
            f"<tr data-node=\"{escape(name)}\" data-state=\"{escape(state)}\" "
            f"data-reach=\"{escape(reach)}\"><td>{escape(name)}</td>"
            f"{_cell(state)}<td>{escape(since)}</td>{_cell(reach)}"
            f"<td>{escape(detail)}</td></tr>")
    return _table("Members", ("node", "in the cell", "for", "answer", ""), rows)


def _services(services: Sequence[ServiceView]) -> str:
    rows = [f"<tr data-service=\"{escape(s.name)}\" data-owner=\"{escape(s.owner or '')}\" "
            f"data-migrated=\"{str(s.migrated).lower()}\"><td>{escape(s.name)}</td>"
            f"{_cell(s.state)}<td>{escape(s.owner or '-')}</td>"
            f"<td>{escape(s.home or '-')}</td>"
            f"<td{' class=warn' if s.migrated else ''}>"
            f"{'MIGRATED' if s.migrated else 'at home' if s.owner else ''}</td></tr>"
            for s in services]
    return _table("Services", ("service", "state", "on", "home", ""), rows)


def _fence(devices: Iterable[FenceDeviceStatus], now: float) -> str:
    rows = [f"<tr data-fence=\"{escape(d.device)}\" data-state=\"{escape(d.state)}\">"
            f"<td>{escape(d.node)}</td><td>{d.level}</td><td>{escape(d.device)}</td>"
            f"{_cell('reachable' if d.state == 'ok' else d.state)}"
            f"<td>{escape(_age(now - d.checked_at) + ' ago' if d.checked_at else '')}"
            f"{escape(': ' + d.detail if d.detail and d.state != 'ok' else '')}</td></tr>"
            for d in devices]
    return _table("Fence devices", ("node", "level", "device", "state", "checked"), rows)


def _events(seen: Seen, now: float) -> str:
    """The last events, oldest first, each with the time since the one before: the
    story of a failover reads top to bottom."""
    if not seen.events:
        text = seen.events_note or "none"
        return f"<h3>Last events</h3><p class=\"gap\">{escape(text)}</p>"
    items, before = [], None
    for event in seen.events:
        ts = float(event.get("ts_ms") or 0) / 1000
        gap = f"+{ts - before:.1f} s" if before is not None else f"{_age(now - ts)} ago"
        before = ts
        who = " ".join(str(event[k]) for k in ("node", "service") if event.get(k))
        items.append(
            f"<li data-kind=\"{escape(str(event.get('kind', '')))}\"><time>{_clock(ts, ms=True)}"
            f"</time> <span class=\"gap\">{escape(gap)}</span> "
            f"<b>{escape(str(event.get('kind', '')))}</b> {escape(who)} "
            f"{escape(str(event.get('detail', '')))}</li>")
    return f"<h3>Last events</h3><ol class=\"events\">{''.join(items)}</ol>"


def _table(title: str, head: Sequence[str], rows: Sequence[str]) -> str:
    if not rows:
        return f"<h3>{escape(title)}</h3><p class=\"gap\">none</p>"
    cols = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (f"<h3>{escape(title)}</h3><div class=\"scroll\"><table><tr>{cols}</tr>"
            f"{''.join(rows)}</table></div>")


def _cell(state: str) -> str:
    """A table cell for a state word, marked when it is bad news."""
    return f"<td{' class=bad' if state in _BAD else ''}>{escape(state)}</td>"


def _clock(ts: float, *, ms: bool = False) -> str:
    text = time.strftime("%H:%M:%S", time.localtime(ts))
    return f"{text}.{int(ts * 1000) % 1000:03d}" if ms else text


def _age(seconds: float) -> str:
    """A duration as an operator reads it at a glance: 4 s, 3 min, 2 h, 5 d."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"
