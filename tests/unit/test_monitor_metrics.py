"""The status and timeline as metric families: names, labels and values read from a
recorded status document and hand-written timelines, without a daemon."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import Metric

from tandem.common.jsonrecord import RecordError
from tandem.common.status import CellStatus
from tandem.monitor.metrics import EventTotals, scrape_families, status_families

# What engine_status returned on an engine-like fixture (also read by the status
# contract test): node2 lost and being fenced, ring 1 down, a quorum disk.
RECORDED = json.loads((Path(__file__).parent / "data" / "status_before_dataclasses.json")
                      .read_text())

Key = tuple[str, frozenset[tuple[str, str]]]


def status(variant: str = "full", **changes: Any) -> CellStatus:
    doc = json.loads(json.dumps(RECORDED[variant]))
    doc.update(changes)
    return CellStatus.from_json(doc, "recorded")


def samples(families: Iterable[Metric]) -> dict[Key, float]:
    """Every sample as (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in families for s in family.samples}


def value(found: dict[Key, float], name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def test_nodes_quorum_and_votes() -> None:
    found = samples(status_families(status()))
    assert value(found, "ha_cluster_tandem_nodes", node="node2", node_id="2",
                 state="lost") == 1
    assert value(found, "ha_cluster_tandem_nodes", node="node2", node_id="2",
                 state="online") == 0
    assert value(found, "ha_cluster_tandem_nodes", node="node1", node_id="1",
                 state="online") == 1
    # one line per possible state: every node has all seven
    assert sum(1 for name, _ in found if name == "ha_cluster_tandem_nodes") == 14
    assert value(found, "ha_cluster_tandem_coordinator", node="node1") == 1
    assert value(found, "ha_cluster_tandem_quorate") == 1
    assert value(found, "ha_cluster_tandem_quorum_votes", type="total_votes") == 2
    assert value(found, "ha_cluster_tandem_quorum_votes", type="quorum") == 2
    assert value(found, "ha_cluster_tandem_quorum_votes", type="expected_votes") == 3
    assert value(found, "ha_cluster_tandem_member_votes", node="node1", node_id="1",
                 local="true") == 1
    assert value(found, "ha_cluster_tandem_node_fence_failures", node="node2") == 1
    assert value(found, "ha_cluster_tandem_info", cluster="io1", node="node1") == 1


def test_rings_and_drops_by_reason() -> None:
    found = samples(status_families(status()))
    assert value(found, "ha_cluster_tandem_rings", number="1", network="backbone",
                 state="down") == 1
    assert value(found, "ha_cluster_tandem_rings", number="0", network="admin",
                 state="up") == 1
    assert value(found, "ha_cluster_tandem_ring_errors") == 1
    assert value(found, "ha_cluster_tandem_redundancy_degraded") == 1
    assert value(found, "ha_cluster_tandem_node_rings", node="node2", network="backbone") == 0
    assert value(found, "ha_cluster_tandem_ring_dropped_packets_total", number="0",
                 reason="bad_mac") == 2
    assert value(found, "ha_cluster_tandem_ring_received_packets_total", number="0") == 120
    assert value(found, "ha_cluster_tandem_heartbeat_lag_seconds", stat="max") == \
        pytest.approx(0.00412)


def test_services_and_where_they_run() -> None:
    found = samples(status_families(status()))
    assert value(found, "ha_cluster_tandem_services", service="web", state="started") == 1
    assert value(found, "ha_cluster_tandem_services", service="db", state="recovering") == 1
    assert value(found, "ha_cluster_tandem_service_owner", service="web", node="node1") == 1
    assert value(found, "ha_cluster_tandem_service_owner", service="web", node="node2") == 0
    assert value(found, "ha_cluster_tandem_service_owner", service="db", node="node1") == 0


def test_fencing_and_fence_devices() -> None:
    found = samples(status_families(status()))
    assert value(found, "ha_cluster_tandem_fencing", node="node2") == 1
    assert value(found, "ha_cluster_tandem_fencing", node="node1") == 0
    assert value(found, "ha_cluster_tandem_manual_fence_pending", node="node2") == 1
    assert value(found, "ha_cluster_tandem_fence_devices", node="node2", level="1",
                 device="bmc", state="failed") == 1


def test_quorum_disk_and_a_cell_without_one() -> None:
    found = samples(status_families(status()))
    disk = {"device": "/dev/disk/by-id/wwn-qd", "label": "io1-qd"}
    assert value(found, "ha_cluster_tandem_qdisk_online", **disk) == 1
    assert value(found, "ha_cluster_tandem_qdisk_state", state="running", **disk) == 1
    assert value(found, "ha_cluster_tandem_qdisk_master", node="node1") == 1
    assert value(found, "ha_cluster_tandem_qdisk_node_alive", node="node2") == 0
    assert value(found, "ha_cluster_tandem_qdisk_votes", type="configured") == 1
    bare = samples(status_families(status("bare")))
    assert not [name for name, _ in bare if "qdisk" in name]


def test_a_state_the_schema_does_not_know_gets_its_line() -> None:
    doc = json.loads(json.dumps(RECORDED["full"]))
    doc["rings"][0]["state"] = "flapping"  # a newer daemon
    families = status_families(CellStatus.from_json(doc, "newer"))
    found = samples(families)
    assert value(found, "ha_cluster_tandem_rings", number="0", network="admin",
                 state="flapping") == 1
    assert value(found, "ha_cluster_tandem_rings", number="0", network="admin",
                 state="up") == 0


def test_scrape_families() -> None:
    assert value(samples(scrape_families(False, 0.25)), "ha_cluster_tandem_scrape_success") == 0
    assert value(samples(scrape_families(True, 0.25)),
                 "ha_cluster_tandem_scrape_duration_seconds") == 0.25


def event(ts_s: float, kind: str, node: str | None = None, service: str | None = None,
          **data: Any) -> dict[str, Any]:
    return {"ts_ms": int(ts_s * 1000), "kind": kind, "node": node, "service": service,
            "detail": "", **data}


# web runs on node2, which is lost at t=100; node1 fences it and starts web at t=107.5.
FAILOVER = [
    event(10, "service", "node2", "web", state="started"),
    event(11, "service", "node1", "db", state="started"),
    event(100, "node", "node2", state="lost"),
    event(101, "fence_start", "node2"),
    event(103, "fence_failed", "node2", duration_ms=1500),
    event(106, "fence_done", "node2", duration_ms=2500),
    event(106, "node", "node2", state="fenced"),
    event(106.5, "service", None, "web", state="recovering"),
    event(107.5, "service", "node1", "web", state="started"),
]


def totals_after(*timeline: list[dict[str, Any]]) -> tuple[EventTotals, dict[Key, float]]:
    totals = EventTotals()
    last = 0
    for events in timeline:
        last += len(events)
        totals.follow({"last": last, "events": events})
    return totals, samples(totals.families(status()))


def test_failover_duration_from_node_lost_to_started_elsewhere() -> None:
    _, found = totals_after(FAILOVER)
    name = "ha_cluster_tandem_failover_duration_seconds"
    assert value(found, f"{name}_count", service="web") == 1
    assert value(found, f"{name}_sum", service="web") == pytest.approx(7.5)
    assert value(found, f"{name}_bucket", service="web", le="5.0") == 0
    assert value(found, f"{name}_bucket", service="web", le="10.0") == 1
    assert value(found, f"{name}_bucket", service="web", le="+Inf") == 1
    # db ran on the node that stayed: no failover, but shown from zero
    assert value(found, f"{name}_count", service="db") == 0


def test_no_failover_for_a_restart_on_the_same_node_or_a_disabled_service() -> None:
    back = [event(10, "service", "node2", "web", state="started"),
            event(20, "node", "node2", state="lost"),
            event(29, "node", "node2", state="online"),
            event(30, "service", "node2", "web", state="started"),
            event(40, "node", "node2", state="lost"),
            event(41, "service", None, "web", state="disabled"),
            event(50, "service", "node1", "web", state="started")]
    _, found = totals_after(back)
    assert value(found, "ha_cluster_tandem_failover_duration_seconds_count",
                 service="web") == 0


def test_the_lost_node_still_shown_as_owner_does_not_end_the_failover() -> None:
    stale = [*FAILOVER[:3], event(100.02, "service", "node2", "web", state="started"),
             *FAILOVER[3:]]
    _, found = totals_after(stale)
    assert value(found, "ha_cluster_tandem_failover_duration_seconds_sum",
                 service="web") == pytest.approx(7.5)


def test_a_failover_spread_over_two_scrapes_is_measured_once() -> None:
    _, found = totals_after(FAILOVER[:4], FAILOVER[4:])
    assert value(found, "ha_cluster_tandem_failover_duration_seconds_count",
                 service="web") == 1


def test_fences_by_result_and_their_durations() -> None:
    _, found = totals_after(FAILOVER, [event(200, "fence_ack", "node2")])
    assert value(found, "ha_cluster_tandem_fences_total", node="node2", result="ok") == 1
    assert value(found, "ha_cluster_tandem_fences_total", node="node2", result="failed") == 1
    assert value(found, "ha_cluster_tandem_fences_total", node="node2", result="acked") == 1
    assert value(found, "ha_cluster_tandem_fences_total", node="node1", result="ok") == 0
    assert value(found, "ha_cluster_tandem_fence_duration_seconds_sum", node="node2") == 2.5
    assert value(found, "ha_cluster_tandem_fence_duration_seconds_bucket", node="node2",
                 le="2.0") == 0


def test_a_new_daemon_is_read_from_its_start_and_totals_are_kept() -> None:
    totals, _ = totals_after(FAILOVER)
    totals.daemon_seen(7)
    assert totals.cursor == 0
    totals.follow({"last": len(FAILOVER), "events": FAILOVER})
    totals.daemon_seen(7)  # the same daemon: the cursor stays
    assert totals.cursor == len(FAILOVER)
    found = samples(totals.families(None))
    assert value(found, "ha_cluster_tandem_fences_total", node="node2", result="ok") == 2
    assert value(found, "ha_cluster_tandem_failover_duration_seconds_count",
                 service="web") == 2


@pytest.mark.parametrize("answer", [None, {"events": []}, {"last": 1, "events": [{}]},
                                    {"last": "x", "events": []}])
def test_an_unreadable_events_answer_is_a_record_error(answer: Any) -> None:
    with pytest.raises(RecordError, match="tandemd events"):
        EventTotals().follow(answer)
