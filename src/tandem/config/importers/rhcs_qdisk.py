"""cluster.conf's `<quorumd>` as a `[qdisk]` section.

Kept: device, label, interval (seconds -> interval_ms), tko, votes (Cluster Suite's
default: one less than the nodes), min_score (its default, half the heuristics' total
score rounded up, is written out: tandem's own default is a strict majority), and each
heuristic: program -> command (split like a shell would, or run through `sh -c` when it
uses shell syntax), score, interval, tko. The disk must be prepared again with `tandem
qdisk init` (the on-disk format is tandem's), and its votes always go to the master's
partition; notes say so.
"""

from __future__ import annotations

import shlex

from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.xmldoc import Element
from tandem.quorum.qdisk.config import MIN_TKO, QdiskDef
from tandem.quorum.qdisk.format import LABEL_BYTES
from tandem.quorum.qdisk.heuristics import Heuristic

DEFAULT_INTERVAL_MS = 1000  # Cluster Suite's defaults
DEFAULT_TKO = 10
DEFAULT_HEURISTIC_INTERVAL_MS = 2000
HEURISTIC_TIMEOUT_MS = 1000
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


def import_quorumd(ctx: Context, root: Element, node_count: int) -> QdiskDef | None:
    """The quorum disk, if cluster.conf has one."""
    element = root.child("quorumd")
    if element is None:
        return None
    book = ctx.book
    device, label = _device(ctx, element)
    interval = book.seconds(element, "interval") or DEFAULT_INTERVAL_MS
    if not 50 <= interval <= 60_000:
        raise book.fail(element, f"interval of {interval} ms: tandem's disk cycle is "
                                 f"50 ms to 60 s")
    tko = book.integer(element, "tko", DEFAULT_TKO, minimum=1)
    if tko < MIN_TKO:
        book.note(element, f'tko="{tko}" raised to {MIN_TKO}: tandem needs at least '
                           f"{MIN_TKO} silent cycles before a node is dead on disk")
        tko = MIN_TKO
    votes = book.integer(element, "votes", max(node_count - 1, 1))
    heuristics = tuple(_heuristic(ctx, h) for h in element.all("heuristic"))
    total = sum(h.score for h in heuristics)
    min_score = book.integer(element, "min_score", 0) or (total + 1) // 2
    if min_score > total and heuristics:
        raise book.fail(element, f"min_score {min_score} can never be reached: the "
                                 f"heuristics score at most {total}")
    if not book.flag(element, "master_wins", False):
        book.note(element, "the disk's votes go to the partition of the disk's master "
                           "(tandem's quorum disk always works as master_wins)")
    if heuristics:
        book.note(element, f"a heuristic run that takes longer than "
                           f"{HEURISTIC_TIMEOUT_MS} ms (or its interval) fails")
    for attr, why in DROPPED.items():
        book.drop(element, attr, why)
    book.note(element, "prepare the disk again with `tandem qdisk init DEVICE"
                       + (f" --label {label}`" if label else "`")
                       + " (tandem's on-disk format is its own)")
    return QdiskDef(device=device, label=label, interval_ms=interval, tko=tko,
                    votes=votes, min_score=min_score if heuristics else 0,
                    heuristics=heuristics)


def _device(ctx: Context, element: Element) -> tuple[str, str]:
    device = (element.take("device") or "").strip()
    label = (element.take("label") or "").strip()
    if len(label.encode()) > LABEL_BYTES:
        raise ctx.book.fail(element, f"label longer than {LABEL_BYTES} bytes")
    if device and not device.startswith("/"):
        raise ctx.book.fail(element, f'device="{device}" is not an absolute path')
    if not device and not label:
        raise ctx.book.fail(element, "a quorumd needs a device or a label")
    if not device:
        ctx.book.note(element, f"label {label}: Cluster Suite searched every disk for it; "
                               f"tandem opens one path: fill in qdisk.device (the same "
                               f"LUN's path on every node)")
        device = ctx.fill_in("qdisk.device")
    return device, label


def _heuristic(ctx: Context, element: Element) -> Heuristic:
    program = (element.take("program") or "").strip()
    if not program:
        raise ctx.book.fail(element, "a heuristic needs a program")
    command = _command(ctx, element, program)
    interval = ctx.book.seconds(element, "interval") or DEFAULT_HEURISTIC_INTERVAL_MS
    if interval < 50:
        raise ctx.book.fail(element, f"interval of {interval} ms: at least 50 ms")
    score = ctx.book.integer(element, "score", 1, minimum=1)
    tko = ctx.book.integer(element, "tko", 1, minimum=1)
    if score > 1000 or tko > 100:
        raise ctx.book.fail(element, "score is at most 1000 and tko at most 100")
    return Heuristic(command=command, score=score, interval_s=interval / 1000,
                     timeout_s=min(HEURISTIC_TIMEOUT_MS, interval) / 1000, tko=tko)


def _command(ctx: Context, element: Element, program: str) -> tuple[str, ...]:
    """The program as an argument list: split as the shell would when it is a plain
    command, else run by `sh -c` as Cluster Suite did (with a note)."""
    if not SHELL_SYNTAX & set(program):
        try:
            words = shlex.split(program)
        except ValueError:
            words = []
        if words:
            return tuple(words)
    ctx.book.note(element, "the program is not a plain command (shell syntax or quotes): "
                           "it runs as sh -c '...'")
    return ("sh", "-c", program)
