"""The status as dataclasses: the daemon's document keeps exactly the shape it had
before (recorded from the dict-building code on the same engine-like fixture), reads
back into the same dataclasses, and a broken document is refused naming the path."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any, cast

import pytest
from cellsim import SimCell, cell_text, play, service_text

from tandem.cli import compat, status_cmd
from tandem.cli.svc_cmd import outcome_check, service_row
from tandem.common.jsonrecord import JsonRecord, RecordError
from tandem.common.status import (
    CellStatus,
    FenceDeviceStatus,
    QdiskNodeStatus,
    QdiskStatus,
    ServiceStatus,
)
from tandem.config import parse_config
from tandem.daemon import status as daemon_status
from tandem.daemon.diskquorum import DiskQuorum
from tandem.daemon.events import EventLog
from tandem.daemon.fencecheck import DeviceHealth, FenceDeviceChecker
from tandem.daemon.services.storage import StorageErrors
from tandem.membership.detector import RingState
from tandem.membership.heartbeat import HeartbeatStats
from tandem.membership.ledger import NodeRecord, NodeState
from tandem.storage.kmsgwatch import WatchCounters

# What engine_status returned for `engine(True)` and `engine(False)` before the
# dataclasses (recorded with the code of commit 9316af5, JSON round trip).
RECORDED = json.loads((Path(__file__).parent / "data" / "status_before_dataclasses.json")
                      .read_text())


def _with_additions(doc: dict[str, Any]) -> dict[str, Any]:
    """The recorded document with the keys added since, at their place (a key is only
    ever added, with a default, so older readers and documents keep working)."""
    doc = json.loads(json.dumps(doc))
    beats = doc.get("heartbeat")
    if beats:  # 2026-12: p99 lateness over the last few thousand heartbeats
        beats["p99_lag_ms"] = beats.get("p99_lag_ms", 0.0)
    doc["locked"] = doc.get("locked", False)  # 2026-12: clusvcadm -l
    full = bool(beats)
    doc.setdefault("storage", {  # 2026-12: the watch of back-end I/O errors
        "kernel_log": full, "records": 40 if full else 0, "io_errors": 3 if full else 0,
        "reported": 3 if full else 0, "relevant": 1 if full else 0, "lost": 0,
        "last_error": "Buffer I/O error on dev sdc, logical block 0" if full else ""})
    return dict(doc)


BEFORE = {variant: _with_additions(doc) for variant, doc in RECORDED.items()}

CELL = """
[cluster]
name = "io1"
key_file = "/etc/tandem/cluster.key"
config_version = 3

[networks.admin]
ring = 0
[networks.backbone]
ring = 1

[fence_devices.bmc]
type = "ipmi"
[fence_devices.operator]
type = "manual"

[[nodes]]
name = "node1"
id = 1
networks.admin = { interface = "eth0", address = "198.51.100.11/24" }
networks.backbone = { interface = "eth1", address = "203.0.113.11/24" }
bmc = { address = "198.51.100.101", user = "admin", password = "x" }
fence = [ { devices = ["bmc"] }, { devices = ["operator"] } ]

[[nodes]]
name = "node2"
id = 2
networks.admin = { interface = "eth0", address = "198.51.100.12/24" }
networks.backbone = { interface = "eth1", address = "203.0.113.12/24" }
bmc = { address = "198.51.100.102", user = "admin", password = "x" }
fence = [ { devices = ["bmc"] }, { devices = ["operator"] } ]
"""
QDISK = """
[qdisk]
device = "/dev/disk/by-id/wwn-qd"
label = "io1-qd"
"""


def _services() -> list[ServiceStatus]:
    return [ServiceStatus(name="web", state="started", owner="node1", last_owner="node2",
                          note="", enabled=True, frozen=False, placement="node1",
                          since=1699999990.125, local="started"),
            ServiceStatus(name="db", state="recovering", owner=None, last_owner=None,
                          note="waiting for node2 to be fenced", enabled=True, frozen=False,
                          placement=None, since=None, local="stopped")]


def _qdisk() -> QdiskStatus:
    return QdiskStatus(device="/dev/disk/by-id/wwn-qd", label="io1-qd", online=True,
                       state="running", error="", master="node1", votes=1,
                       configured_votes=1, my_score=1, max_score=1, score_ok=True,
                       nodes=(QdiskNodeStatus("node1", 1, 1, True, True),
                              QdiskNodeStatus("node2", 2, 0, False, False)))


def _storage_errors(full: bool) -> StorageErrors:
    errors = StorageErrors()
    if full:
        errors.reported, errors.relevant = 3, 1
    return errors


def engine(full: bool) -> Any:
    """What engine_status reads of an engine: a cell with a quorum disk, a lost peer
    being fenced and two services (`full`), or a daemon just started (not `full`)."""
    config = parse_config(CELL + (QDISK if full else ""))
    checks = FenceDeviceChecker(config, "node1", EventLog())
    if full:
        checks.health[("node2", 1, "bmc")] = DeviceHealth("node2", 1, "bmc", False,
                                                          "no answer", 1699999995.1234)
        checks.health[("node2", 2, "bmc")] = DeviceHealth("node2", 2, "bmc")
    records = {1: NodeRecord(1, NodeState.ONLINE, since=10.5, incarnation=7),
               2: NodeRecord(2, NodeState.LOST if full else NodeState.ONLINE, since=990.25,
                             incarnation=3 if full else None,
                             fence_failures=1 if full else 0,
                             note="fence failed" if full else "")}
    net = NS(stats=lambda: {0: {"rx_ok": 120, "tx_ok": 118, "drop_bad_mac": 2},
                            1: {"rx_ok": 0, "tx_ok": 118}},
             scheduling=NS(detail="SCHED_FIFO priority 10, memory locked"),
             heartbeat_stats=lambda: HeartbeatStats(118, 1, 0, 0.00412, 0.000853))
    return NS(
        config=config, local=config.nodes[0],
        view=NS(peers={2: NS(rings={0: True, 1: False})}, redundancy_degraded=True)
        if full else None,
        ledger=NS(records=records),
        claims={2: NS(config_version=2)} if full else {},
        cell=NS(quorum=NS(quorate=full, total_votes=2 if full else 1, needed=2,
                          reason="2 of 3 votes (node1 + quorum disk)" if full
                          else "waiting for all"),
                unblocked=not full, coordinator=1 if full else None,
                rings={0: RingState.UP, 1: RingState.DOWN} if full else {}),
        ids={1: "node1", 2: "node2"},
        fencer=NS(running={2: None} if full else {},
                  acks=NS(pending=lambda: ["node2"] if full else [])),
        fence_checks=checks, net=net if full else None,
        store=NS(reports={}, intents={}, placement={}),
        local_services=NS(report=lambda: None, probed=full, storage=_storage_errors(full)),
        storage_watch=NS(running=full, counters=WatchCounters(
            40, 3, 0, 0, "Buffer I/O error on dev sdc, logical block 0") if full
            else WatchCounters()),
        display=NS(rows=lambda *_: _services() if full else []),
        disk=NS(status=lambda ids: _qdisk() if full else None),
        started=400.0)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = NS(time=lambda: 1_700_000_000.0, monotonic=lambda: 1000.0)
    monkeypatch.setattr(daemon_status, "time", clock)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("variant", ["full", "bare"])
def test_the_document_is_exactly_the_one_before(variant: str) -> None:
    status = daemon_status.engine_status(engine(variant == "full"))
    sent = json.dumps(status.to_json())  # what the control socket sends
    assert sent == json.dumps(BEFORE[variant])  # same keys, order, nesting, types


def test_a_recorded_document_without_the_added_keys_still_reads() -> None:
    status = CellStatus.from_json(RECORDED["full"])
    assert status.heartbeat is not None and status.heartbeat.p99_lag_ms == 0.0


@pytest.mark.parametrize("variant", ["full", "bare"])
def test_a_document_reads_back_into_the_same_dataclasses(variant: str) -> None:
    status = CellStatus.from_json(json.loads(json.dumps(BEFORE[variant])))
    assert status.to_json() == BEFORE[variant]
    assert CellStatus.from_json(status.to_json()) == status
    assert isinstance(status.nodes, tuple) and isinstance(status.uptime_s, float)


def test_reading_the_typed_fields() -> None:
    status = CellStatus.from_json(BEFORE["full"])
    assert status.quorum.expected == 3 and status.coordinator == "node1"
    node2 = status.node("node2")
    assert node2 is not None and node2.rings == {"admin": "up", "backbone": "down"}
    assert status.service("db") == _services()[1] and status.service("nope") is None
    assert status.qdisk == _qdisk() and status.heartbeat is not None
    assert status.heartbeat.max_lag_ms == 4.12
    assert CellStatus.from_json(BEFORE["bare"]).heartbeat is None  # {} on the wire


def _broken(change: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(BEFORE["full"]))
    change(doc)
    return doc


def test_unknown_keys_are_ignored() -> None:
    doc = _broken(lambda d: (d.update(added_later=1), d["nodes"][0].update(x="y")))
    assert CellStatus.from_json(doc) == CellStatus.from_json(BEFORE["full"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["nodes"][1].pop("state"), "status.nodes[1]: missing key 'state'"),
    (lambda d: d.pop("quorum"), "status: missing key 'quorum'"),
    (lambda d: d["quorum"].update(votes="2"),
     "status.quorum.votes: expected an integer, got str '2'"),
    (lambda d: d["quorum"].update(votes=True), "status.quorum.votes: expected an integer"),
    (lambda d: d.update(quorate=1), "status.quorate: expected a boolean, got int 1"),
    (lambda d: d.update(nodes={}), "status.nodes: expected a list, got dict"),
    (lambda d: d["qdisk"]["nodes"].append(None),
     "status.qdisk.nodes[2]: expected an object, got null"),
    (lambda d: d["transport"]["0"].update(rx_ok=1.5),
     "status.transport.0.rx_ok: expected an integer, got float 1.5"),
])
def test_a_broken_document_is_refused_naming_the_path(change: Any, message: str) -> None:
    with pytest.raises(RecordError) as caught:
        CellStatus.from_json(_broken(change), "status")
    assert str(caught.value).startswith(message)


@dataclass(frozen=True)
class _Probe(JsonRecord):
    name: str
    lag_ms: float
    added_later: int = 0


def test_a_key_added_later_with_a_default_may_be_absent() -> None:
    assert _Probe.from_json({"name": "a", "lag_ms": 2}) == _Probe("a", 2.0)  # int as float
    assert _Probe.from_json({"name": "a", "lag_ms": 2.5, "added_later": 3}).added_later == 3
    with pytest.raises(RecordError, match=r"^probe: missing key 'lag_ms'$"):
        _Probe.from_json({"name": "a"}, "probe")


def test_fence_device_rows_come_from_the_checker() -> None:
    assert DeviceHealth("node2", 1, "bmc", True, "answers (power on)", 5.12345).to_status() \
        == FenceDeviceStatus("node2", 1, "bmc", "ok", "answers (power on)", 5.123)
    assert DeviceHealth("node2", 2, "ipmi2").to_status().state == "unknown"


def test_quorum_disk_rows_come_from_the_disk_view() -> None:
    config = parse_config(CELL + QDISK)
    quorum = DiskQuorum(config, config.nodes[0])
    view = NS(available=True, state="running", error="", master=1, votes=1, my_score=1,
              max_score=1, score_ok=True,
              nodes={2: NS(score=0, alive=False, holding=False),
                     1: NS(score=1, alive=True, holding=True)})
    quorum.runner = cast(Any, NS(snapshot=lambda: view))
    assert quorum.status({1: "node1", 2: "node2"}) == _qdisk()


def test_service_rows_come_from_the_service_manager(tmp_path: Path) -> None:
    """A real engine of a simulated cell (tests/unit/cellsim) answers with typed rows."""
    text = cell_text(services=service_text(nodes=("n1", "n2"), extra="autostart = false\n"))

    async def scenario(cell: SimCell) -> None:
        for name in cell.nodes:
            await cell.boot(name)
        await cell.run(3)
        rows = daemon_status.engine_status(cell.nodes["n1"].live).services
        assert rows == (ServiceStatus(
            name="web", state="disabled", owner=None, last_owner=None, note="",
            enabled=False, frozen=False, placement=None, since=None, local="stopped"),)

    play(tmp_path, text, scenario)


def test_the_human_views_read_the_dataclasses(capsys: pytest.CaptureFixture[str]) -> None:
    status = CellStatus.from_json(BEFORE["full"])
    status_cmd.render_status(status)
    out = capsys.readouterr().out
    assert "Member Status: Quorate (2 of 3 votes (node1 + quorum disk))" in out
    assert "Quorum Disk /dev/disk/by-id/wwn-qd: online, master node1, 1 vote(s)" in out
    assert "FENCE DEVICE FAILED: bmc (level 1) for node2: no answer" in out
    assert "Fencing in progress: node2" in out and "tandem fence ack node2" in out
    assert "Packets dropped (by reason): ring 0: bad_mac 2\n" in out
    busy = replace(status, transport={"1": {"rx_ok": 9, "drop_truncated": 4,
                                            "drop_bad_mac": 7, "drop_oversized": 4},
                                      "0": {"drop_duplicate": 1}, "2": {"drop_own_id": 0}})
    assert status_cmd.drop_lines(busy) == [
        "ring 0: duplicate 1", "ring 1: bad_mac 7, oversized 4, truncated 4"]
    text = compat.clustat_text(status, None, None)
    assert "service:web" in text and "node1 (Coordinator)" not in text
    assert "Online, Local, Coordinator" in text and "Lost" in text
    xml = compat.clustat_xml(status)
    assert '<group name="service:db" state_str="recovering" owner="none"' in xml


def test_svc_follows_the_service_row() -> None:
    status = CellStatus.from_json(BEFORE["full"])
    web = service_row(status, "web")
    assert outcome_check("enable", web, None, 0.0)(web)
    assert not outcome_check("relocate", web, None, 0.0)(web)  # still on node1
    assert outcome_check("relocate", web, "node1", 0.0)(web)


def test_tandem_status_says_when_storage_errors_were_seen_or_the_watch_is_off() -> None:
    from tandem.cli.status_cmd import storage_line

    full = CellStatus.from_json(BEFORE["full"])
    assert storage_line(full).startswith("Storage errors: 3 reported, 1 on devices")
    assert full.storage is not None
    quiet = replace(full, storage=replace(full.storage, reported=0, relevant=0))
    assert storage_line(quiet) == ""
    off = replace(quiet, storage=replace(full.storage, reported=0, kernel_log=False))
    assert "not watched" in storage_line(off)
