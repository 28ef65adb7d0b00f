"""The `[qdisk]` section of a cell configuration, registered with tandem.config.sections.

```toml
[qdisk]
device = "/dev/disk/by-id/wwn-0x600a0b80001234"   # same LUN on every node
label = "io1-qdisk"        # checked against the disk's header (tandem qdisk init)
interval_ms = 100          # one write and one read of every slot per interval
tko = 5                    # intervals of silence before a node is dead on disk
                           # (interval_ms x tko may not exceed the token)
votes = 1                  # what the disk adds to the master's partition
master_wins = true         # the disk's votes go to the master's partition only
min_score = 0              # 0: more than half of the heuristics' total score
stop_wait_ms = 10000       # a node lost on the network but alive on the disk that
                           # still runs services gets this long to stop them before
                           # it is fenced (it stops them when it loses quorum)

[[qdisk.heuristics]]       # or: heuristics = [ { command = [...], score = 1 }, ... ]
command = ["ping", "-c1", "-W1", "198.51.100.1"]
score = 1
interval_ms = 2000
timeout_ms = 1500
tko = 1                    # failures in a row before it stops counting
```
Commands are argument arrays, never shell strings: write `["sh", "-c", "..."]` to get
a shell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tandem.config.errors import ConfigError
from tandem.config.model import ClusterConfig
from tandem.config.reader import Section
from tandem.config.sections import SectionKind
from tandem.quorum.qdisk.format import LABEL_BYTES, MAX_NODES
from tandem.quorum.qdisk.heuristics import Heuristic

# Fast enough that the master role has moved (tko intervals of silence, then a bid and
# a claim: about tko + 2 intervals) before the default 1 s token declares a node lost.
DEFAULT_INTERVAL_MS = 100
DEFAULT_TKO = 5
DEFAULT_HEURISTIC_INTERVAL_MS = 2000
DEFAULT_HEURISTIC_TIMEOUT_MS = 1000
MIN_TKO = 3
DEFAULT_STOP_WAIT_MS = 10_000


@dataclass(frozen=True)
class QdiskDef:
    """How a node uses the quorum disk."""

    device: str
    label: str = ""
    interval_ms: int = DEFAULT_INTERVAL_MS
    tko: int = DEFAULT_TKO
    votes: int = 1
    master_wins: bool = True
    min_score: int = 0
    heuristics: tuple[Heuristic, ...] = ()
    stop_wait_ms: int = DEFAULT_STOP_WAIT_MS

    @property
    def interval_s(self) -> float:
        return self.interval_ms / 1000.0

    @property
    def stop_wait_s(self) -> float:
        return self.stop_wait_ms / 1000.0

    @property
    def tko_s(self) -> float:
        """Silence after which a node is dead on disk."""
        return self.interval_s * self.tko

    @property
    def io_budget_s(self) -> float:
        """How long one cycle (write + read) may take before the disk counts as not
        answering; also how long a view stays valid. Half of tko, so that this node
        notices its own trouble well before the others may declare it dead."""
        return self.tko_s / 2


def read_qdisk_section(section: Section) -> QdiskDef:
    """Read and check a `[qdisk]` table; ConfigError naming the key on any problem."""
    section.only("device", "label", "interval_ms", "tko", "votes", "master_wins",
                 "min_score", "heuristics", "stop_wait_ms")
    device = section.req_string("device")
    if not device.startswith("/"):
        raise section.fail("device", f"expected an absolute path, got {device!r}")
    label = section.string("label", "") or ""
    if len(label.encode()) > LABEL_BYTES:
        raise section.fail("label", f"at most {LABEL_BYTES} bytes")
    heuristics = tuple(_read_heuristic(h) for h in section.tables("heuristics"))
    total = sum(h.score for h in heuristics)
    min_score = section.integer("min_score", 0, minimum=0)
    if min_score > total:
        raise section.fail("min_score", f"{min_score} can never be reached: the "
                                        f"heuristics score at most {total}")
    return QdiskDef(
        device=device, label=label,
        interval_ms=section.integer("interval_ms", DEFAULT_INTERVAL_MS, minimum=50,
                                    maximum=60_000),
        tko=section.integer("tko", DEFAULT_TKO, minimum=MIN_TKO, maximum=1000),
        votes=section.integer("votes", 1, minimum=0, maximum=255),
        master_wins=section.boolean("master_wins", True),
        min_score=min_score, heuristics=heuristics,
        stop_wait_ms=section.integer("stop_wait_ms", DEFAULT_STOP_WAIT_MS, minimum=0,
                                     maximum=600_000))


def _read_heuristic(sec: Section) -> Heuristic:
    sec.only("command", "score", "interval_ms", "timeout_ms", "tko")
    if isinstance(sec.data.get("command"), str):
        raise sec.fail("command", "expected an array of arguments such as "
                                  "[\"ping\", \"-c1\", \"198.51.100.1\"] (use "
                                  "[\"sh\", \"-c\", \"...\"] for a shell)")
    command = sec.strings("command")
    if not command:
        raise sec.fail("command", "is required: a non-empty array of arguments")
    interval = sec.integer("interval_ms", DEFAULT_HEURISTIC_INTERVAL_MS, minimum=50)
    timeout = sec.integer("timeout_ms", min(DEFAULT_HEURISTIC_TIMEOUT_MS, interval),
                          minimum=10)
    if timeout > interval:
        raise sec.fail("timeout_ms", f"must not exceed interval_ms ({interval})")
    return Heuristic(command=tuple(command), score=sec.integer("score", 1, minimum=1,
                                                                maximum=1000),
                     interval_s=interval / 1000.0, timeout_s=timeout / 1000.0,
                     tko=sec.integer("tko", 1, minimum=1, maximum=100))


def check_qdisk(config: ClusterConfig) -> None:
    """The disk against the rest of the cell: no two-node mode, a disk that declares a
    dead master before the token runs out, node ids that have a slot."""
    qdisk = config.section(QdiskDef)
    if qdisk is None:
        return
    if config.two_node:
        raise ConfigError(config.source, "cluster.two_node",
                          "a quorum disk replaces two-node mode: set two_node = false "
                          "(expected votes: nodes + disk)")
    disk_s = qdisk.tko_s
    if disk_s * 1000 > config.timing.token_ms:
        raise ConfigError(config.source, "qdisk.tko",
                          f"interval_ms x tko = {disk_s * 1000:.0f} ms exceeds the token "
                          f"({config.timing.token_ms} ms): when the disk's master fails, the "
                          f"survivor would be inquorate (and stop its services) until the "
                          f"disk declares it dead; lower qdisk.interval_ms or qdisk.tko, or "
                          f"raise timing.token_ms")
    too_high = [n.id for n in config.nodes if n.id > MAX_NODES]
    if too_high:
        raise ConfigError(config.source, "qdisk",
                          f"a quorum disk has slots for node ids 1..{MAX_NODES}; ids "
                          f"{too_high} do not fit")


def qdisk_table(qdisk: QdiskDef) -> dict[str, Any]:
    """The section as TOML data: what differs from the defaults, with the device."""
    table: dict[str, Any] = {"device": qdisk.device}
    defaults = QdiskDef(device=qdisk.device)
    for key in ("label", "interval_ms", "tko", "votes", "master_wins", "min_score",
                "stop_wait_ms"):
        if getattr(qdisk, key) != getattr(defaults, key):
            table[key] = getattr(qdisk, key)
    if qdisk.heuristics:
        table["heuristics"] = [_heuristic_table(h) for h in qdisk.heuristics]
    return table


def _heuristic_table(heuristic: Heuristic) -> dict[str, Any]:
    # Timeouts are always written: their default depends on the interval.
    table: dict[str, Any] = {"command": list(heuristic.command)}
    if heuristic.score != 1:
        table["score"] = heuristic.score
    table["interval_ms"] = round(heuristic.interval_s * 1000)
    table["timeout_ms"] = round(heuristic.timeout_s * 1000)
    if heuristic.tko != 1:
        table["tko"] = heuristic.tko
    return table


SECTION = SectionKind("qdisk", QdiskDef, read=read_qdisk_section, write=qdisk_table,
                      check=check_qdisk, votes=lambda qdisk: qdisk.votes)
