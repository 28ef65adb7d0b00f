"""cluster.conf's `<quorumd>` as a `[qdisk]` section.

Kept: device, label, interval (seconds -> interval_ms), tko, votes (Cluster Suite's
default: one less than the nodes), min_score (its default, half the heuristics' total
score rounded up, is written out: tandem's own default is a strict majority), and each
heuristic: program -> command (split like a shell would, or run through `sh -c` when it
uses shell syntax), score, interval, tko. The disk must be prepared again with `tandem
qdisk init` (the on-disk format is tandem's), and its votes always go to the master's
partition; notes say so.

The section is built as the TOML table a file would hold and read by the section's own
reader (tandem.config.sections), so the configuration package never imports the quorum
disk's code and the disk's own checks apply.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from typing import Any

from tandem.config.errors import ConfigError
from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.xmldoc import Element
from tandem.config.reader import Section
from tandem.config.sections import section_kind

DEFAULT_INTERVAL_MS = 1000  # Cluster Suite's defaults
DEFAULT_TKO = 10
DEFAULT_HEURISTIC_INTERVAL_MS = 2000
HEURISTIC_TIMEOUT_MS = 1000
MIN_TKO = 3  # tandem's least number of silent cycles before a node is dead on disk
SHELL_SYNTAX = set("|&;<>()$`*?[]{}~\n")
DROPPED = {
    "allow_kill": "tandem never kills a node from the disk; the quorate side fences it",
    "reboot": "tandem never reboots a node from the disk",
    "paranoid": "tandem's disk I/O runs off the event loop with its own deadline",
    "io_timeout": "tandem's disk I/O runs off the event loop with its own deadline",
    "status_file": "tandem qdisk status reads the disk directly",
    "priority": "the disk thread's scheduling is tandem's own",
    "scheduler": "the disk thread's scheduling is tandem's own",
    "stop_cman": "a node that loses the disk loses quorum and stops its services",
    "use_uptime": "tandem counts time with the monotonic clock",
    "log_level": "tandem logs to its own log",
    "log_facility": "tandem logs to its own log",
}


@dataclass(frozen=True)
class Disk:
    """The quorum disk: the `[qdisk]` model, and what the timing and quorum need."""

    model: object
    element: Element
    interval_ms: int
    tko: int
    votes: int


def import_quorumd(ctx: Context, root: Element, node_count: int) -> Disk | None:
    """The quorum disk, if cluster.conf has one."""
    element = root.child("quorumd")
    if element is None:
        return None
    book = ctx.book
    table = _device(ctx, element)
    interval = book.seconds(element, "interval") or DEFAULT_INTERVAL_MS
    tko = book.integer(element, "tko", DEFAULT_TKO, minimum=1)
    if tko < MIN_TKO:
        book.note(element, f'tko="{tko}" raised to {MIN_TKO}: tandem needs at least '
                           f"{MIN_TKO} silent cycles before a node is dead on disk")
        tko = MIN_TKO
    votes = book.integer(element, "votes", max(node_count - 1, 1))
    heuristics = [_heuristic(ctx, h) for h in element.all("heuristic")]
    total = sum(h["score"] for h in heuristics)
    min_score = book.integer(element, "min_score", 0) or (total + 1) // 2
    table.update(interval_ms=interval, tko=tko, votes=votes)
    if heuristics:
        table.update(min_score=min_score, heuristics=heuristics)
    _notes(ctx, element, table, heuristics)
    return Disk(_model(ctx, element, table), element, interval, tko, votes)


def _notes(ctx: Context, element: Element, table: dict[str, Any],
           heuristics: list[dict[str, Any]]) -> None:
    book = ctx.book
    if not book.flag(element, "master_wins", False):
        book.note(element, "the disk's votes go to the partition of the disk's master "
                           "(tandem's quorum disk always works as master_wins)")
    if heuristics:
        book.note(element, f"a heuristic run that takes longer than "
                           f"{HEURISTIC_TIMEOUT_MS} ms (or its interval) fails")
    for attr, why in DROPPED.items():
        book.drop(element, attr, why)
    label = table.get("label")
    book.note(element, "prepare the disk again with `tandem qdisk init DEVICE"
                       + (f" --label {label}`" if label else "`")
                       + " (tandem's on-disk format is its own)")


def _model(ctx: Context, element: Element, table: dict[str, Any]) -> object:
    """The section's model, read by its own reader; its refusal points at the line.
    A device to fill in is put in after the reading (the reader would refuse it)."""
    device = table["device"]
    if device.startswith("<"):
        table["device"] = "/dev/placeholder"
    try:
        model = section_kind("qdisk").read(Section(table, ctx.source, "qdisk"))
    except ConfigError as exc:
        raise ctx.book.fail(element, f"{exc.where}: {exc.problem}") from None
    return dataclasses.replace(model, device=device)


def _device(ctx: Context, element: Element) -> dict[str, Any]:
    device = (element.take("device") or "").strip()
    label = (element.take("label") or "").strip()
    if device and not device.startswith("/"):
        raise ctx.book.fail(element, f'device="{device}" is not an absolute path')
    if not device and not label:
        raise ctx.book.fail(element, "a quorumd needs a device or a label")
    if not device:
        ctx.book.note(element, f"label {label}: Cluster Suite searched every disk for it; "
                               f"tandem opens one path: fill in qdisk.device (the same "
                               f"LUN's path on every node)")
        device = ctx.fill_in("qdisk.device")
    return {"device": device, "label": label} if label else {"device": device}


def _heuristic(ctx: Context, element: Element) -> dict[str, Any]:
    program = (element.take("program") or "").strip()
    if not program:
        raise ctx.book.fail(element, "a heuristic needs a program")
    interval = ctx.book.seconds(element, "interval") or DEFAULT_HEURISTIC_INTERVAL_MS
    return {"command": _command(ctx, element, program),
            "score": ctx.book.integer(element, "score", 1, minimum=1),
            "interval_ms": interval, "timeout_ms": min(HEURISTIC_TIMEOUT_MS, interval),
            "tko": ctx.book.integer(element, "tko", 1, minimum=1)}


def _command(ctx: Context, element: Element, program: str) -> list[str]:
    """The program as an argument list: split as the shell would when it is a plain
    command, else run by `sh -c` as Cluster Suite did (with a note)."""
    if not SHELL_SYNTAX & set(program):
        try:
            words = shlex.split(program)
        except ValueError:
            words = []
        if words:
            return words
    ctx.book.note(element, "the program is not a plain command (shell syntax or quotes): "
                           "it runs as sh -c '...'")
    return ["sh", "-c", program]
