"""The daemon's status and timeline as Prometheus metric families (no I/O here, so every
name, label and value is tested without a daemon; `tandem.monitor.exporter` serves them).

Names follow ClusterLabs' ha_cluster_exporter: `ha_cluster_<subsystem>_<name>`, with
`tandem` as the subsystem, snake_case labels, and a state shown as one line per possible
state (1 for the current one, 0 for the others) so that an alert is a plain comparison
(`ha_cluster_tandem_nodes{state="lost"} == 1`) and a series never vanishes. The states
are read from `status.schema.json`, the status document's contract. No sample carries a
timestamp: Prometheus stamps the scrape.

From the status document (what `tandem status --json` prints, as the node that answered
sees the cell):

| metric | labels | value |
| --- | --- | --- |
| `ha_cluster_tandem_info` | cluster, node | 1 (`node`: the node that answered) |
| `ha_cluster_tandem_config_version` | | configuration version this node runs |
| `ha_cluster_tandem_uptime_seconds` | | how long the daemon runs |
| `ha_cluster_tandem_nodes` | node, node_id, state | 1 for the node's state, 0 others |
| `ha_cluster_tandem_coordinator` | node | 1 for the coordinator, 0 others |
| `ha_cluster_tandem_member_votes` | node, node_id, local | the node's votes |
| `ha_cluster_tandem_node_fence_failures` | node | failed fences since last success |
| `ha_cluster_tandem_node_config_outdated` | node | 1 if on an older configuration |
| `ha_cluster_tandem_node_rings` | node, network | 1 heard on that network, 0 not |
| `ha_cluster_tandem_quorate` | | 1 or 0 |
| `ha_cluster_tandem_quorum_votes` | type | total_votes, quorum, expected_votes |
| `ha_cluster_tandem_rings` | number, network, state | 1 for the ring's state |
| `ha_cluster_tandem_ring_errors` | | rings not up |
| `ha_cluster_tandem_redundancy_degraded` | | 1 if a peer is heard on fewer rings |
| `ha_cluster_tandem_ring_{received,sent}_packets_total` | number | packets |
| `ha_cluster_tandem_ring_dropped_packets_total` | number, reason | packets dropped |
| `ha_cluster_tandem_ring_backlog_skipped_packets_total` | number | not sent: backlog |
| `ha_cluster_tandem_ring_socket_errors_total` | number | socket errors |
| `ha_cluster_tandem_heartbeats_{sent,skipped}_total`, `..._heartbeat_errors_total` | | |
| `ha_cluster_tandem_heartbeat_lag_seconds` | stat (max, mean, p99) | sender lateness |
| `ha_cluster_tandem_services` | service, state | 1 for the service's state |
| `ha_cluster_tandem_service_owner` | service, node | 1 where it runs, 0 elsewhere |
| `ha_cluster_tandem_service_enabled` | service | 1 or 0 |
| `ha_cluster_tandem_fencing` | node | 1 while this node fences it |
| `ha_cluster_tandem_manual_fence_pending` | node | 1 while it waits for `fence ack` |
| `ha_cluster_tandem_fence_devices` | node, level, device, state | 1 for last check |
| `ha_cluster_tandem_qdisk_*` | | quorum disk (absent in a cell without one) |

From the timeline (`EventTotals`): `ha_cluster_tandem_fences_total{node,result}`,
`ha_cluster_tandem_fence_duration_seconds` and `ha_cluster_tandem_failover_duration_seconds`
histograms. The exporter adds `ha_cluster_tandem_scrape_success` and
`ha_cluster_tandem_scrape_duration_seconds` (`scrape_families`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from tandem.common.events import EventKind
from tandem.common.jsonrecord import RecordError
from tandem.common.status import CellStatus, QdiskStatus, schema

PREFIX = "ha_cluster_tandem"

# Failovers take seconds to minutes (detection, fence, start); fences up to the device's
# timeouts. The buckets bracket what the lab and bench measure.
FAILOVER_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0,
                    300.0, 600.0)
FENCE_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
FENCE_RESULTS: Mapping[str, str] = {EventKind.FENCE_DONE: "ok",
                                    EventKind.FENCE_FAILED: "failed",
                                    EventKind.FENCE_ACK: "acked"}
# A node in one of these states may have died: its services' failover starts then.
FAILED_NODE_STATES = frozenset({"lost", "unclean", "fencing"})
DROP_PREFIX = "drop_"
# Transport counters other than drops: counter name -> metric name and help.
TRANSPORT: Mapping[str, tuple[str, str]] = {
    "rx_ok": ("ring_received_packets", "Heartbeat-ring packets received and accepted."),
    "tx_ok": ("ring_sent_packets", "Heartbeat-ring packets sent."),
    "tx_backlog": ("ring_backlog_skipped_packets",
                   "Packets not sent because the socket's send backlog was full."),
    "socket_error": ("ring_socket_errors", "Socket errors on the ring."),
}

Row = tuple[Sequence[str], float]


def _name(suffix: str) -> str:
    return f"{PREFIX}_{suffix}"


def _states(definition: str) -> tuple[str, ...]:
    """The states the schema allows for `state` in one of its definitions."""
    return tuple(schema()["$defs"][definition]["properties"]["state"]["enum"])


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def gauge(suffix: str, doc: str, labels: Sequence[str], rows: Iterable[Row]) -> Metric:
    """One gauge family from (label values, value) rows."""
    family = GaugeMetricFamily(_name(suffix), doc, labels=list(labels))
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


def counter(suffix: str, doc: str, labels: Sequence[str], rows: Iterable[Row]) -> Metric:
    """One counter family (`suffix` without `_total`; the library adds it)."""
    family = CounterMetricFamily(_name(suffix), doc, labels=list(labels))
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


def state_set(suffix: str, doc: str, labels: Sequence[str],
              rows: Iterable[tuple[Sequence[str], str]], states: Sequence[str]) -> Metric:
    """A gauge with one line per possible state of each row: 1 for its state, else 0.
    A state the schema does not know yet (a newer daemon) gets its line too."""
    return gauge(suffix, doc, [*labels, "state"],
                 (([*values, state], _flag(state == current))
                  for values, current in rows
                  for state in (states if current in states else (*states, current))))


def status_families(status: CellStatus) -> list[Metric]:
    """Every family the status gives."""
    return [*_cell(status), *_nodes(status), *_quorum(status), *_rings(status),
            *_transport(status), *_heartbeat(status), *_services(status),
            *_fencing(status), *_qdisk(status.qdisk)]


def _cell(status: CellStatus) -> list[Metric]:
    return [
        gauge("info", "The cell and the node whose daemon answered.", ["cluster", "node"],
              [([status.cluster, status.local], 1.0)]),
        gauge("config_version", "The configuration version this node runs.", [],
              [([], float(status.config_version))]),
        gauge("uptime_seconds", "How long the daemon has been running.", [],
              [([], status.uptime_s)]),
    ]


def _nodes(status: CellStatus) -> list[Metric]:
    nodes = status.nodes
    return [
        state_set("nodes", "Membership state of each node (1 for its state).",
                  ["node", "node_id"], (([n.name, str(n.id)], n.state) for n in nodes),
                  _states("node")),
        gauge("coordinator", "1 for the node that decides for the cell.", ["node"],
              (([n.name], _flag(n.name == status.coordinator)) for n in nodes)),
        gauge("member_votes", "Votes each member brings to the quorum.",
              ["node", "node_id", "local"],
              (([n.name, str(n.id), str(n.local).lower()], float(n.votes)) for n in nodes)),
        gauge("node_fence_failures", "Failed fence attempts since its last success.",
              ["node"], (([n.name], float(n.fence_failures)) for n in nodes)),
        gauge("node_config_outdated", "1 if online on an older configuration version.",
              ["node"], (([n.name], _flag(n.config_outdated)) for n in nodes)),
        gauge("node_rings", "1 if the node is heard on the network (or is this node).",
              ["node", "network"],
              (([n.name, network], _flag(state != "down"))
               for n in nodes for network, state in n.rings.items())),
    ]


def _quorum(status: CellStatus) -> list[Metric]:
    quorum = status.quorum
    return [
        gauge("quorate", "1 if this node's partition has quorum.", [],
              [([], _flag(status.quorate))]),
        gauge("quorum_votes", "Votes present (total_votes), needed (quorum) and of the "
              "whole cell with the quorum disk (expected_votes).", ["type"],
              [(["total_votes"], float(quorum.votes)), (["quorum"], float(quorum.needed)),
               (["expected_votes"], float(quorum.expected))]),
    ]


def _rings(status: CellStatus) -> list[Metric]:
    rings = status.rings
    return [
        state_set("rings", "Health of each heartbeat ring (1 for its state).",
                  ["number", "network"],
                  (([str(r.ring), r.network], r.state) for r in rings), _states("ring")),
        gauge("ring_errors", "Heartbeat rings that are not up.", [],
              [([], float(sum(r.state != "up" for r in rings)))]),
        gauge("redundancy_degraded", "1 if some peer is heard on fewer rings than "
              "configured.", [], [([], _flag(status.redundancy_degraded))]),
    ]


def _transport(status: CellStatus) -> list[Metric]:
    """Per-ring packet counters; drops by reason, as `tandem status` lists them."""
    rings = sorted(status.transport.items(), key=lambda item: int(item[0]))
    families = [
        counter(suffix, doc, ["number"],
                (([ring], float(counters[key])) for ring, counters in rings
                 if key in counters))
        for key, (suffix, doc) in TRANSPORT.items()]
    families.append(counter(
        "ring_dropped_packets", "Packets received and dropped, by reason.",
        ["number", "reason"],
        (([ring, name.removeprefix(DROP_PREFIX)], float(count))
         for ring, counters in rings for name, count in sorted(counters.items())
         if name.startswith(DROP_PREFIX))))
    return families


def _heartbeat(status: CellStatus) -> list[Metric]:
    beats = status.heartbeat
    if beats is None:  # the network is not up yet
        return []
    return [
        counter("heartbeats_sent", "Heartbeats this node sent.", [], [([], beats.sent)]),
        counter("heartbeat_errors", "Heartbeats that failed to send.", [],
                [([], beats.errors)]),
        counter("heartbeats_skipped", "Heartbeats skipped (the sender woke up late).", [],
                [([], beats.skipped)]),
        gauge("heartbeat_lag_seconds", "How late the heartbeat sender woke up.", ["stat"],
              [(["max"], beats.max_lag_ms / 1000), (["mean"], beats.mean_lag_ms / 1000),
               (["p99"], beats.p99_lag_ms / 1000)]),
    ]


def _services(status: CellStatus) -> list[Metric]:
    services, nodes = status.services, [n.name for n in status.nodes]
    return [
        state_set("services", "Cell-wide state of each service (1 for its state).",
                  ["service"], (([s.name], s.state) for s in services),
                  _states("service")),
        gauge("service_owner", "1 on the node where the service runs, 0 on the others.",
              ["service", "node"],
              (([s.name, node], _flag(node == s.owner)) for s in services
               for node in (nodes if s.owner in nodes or s.owner is None
                            else [*nodes, s.owner]))),
        gauge("service_enabled", "1 if the service is enabled.", ["service"],
              (([s.name], _flag(s.enabled)) for s in services)),
    ]


def _fencing(status: CellStatus) -> list[Metric]:
    nodes = [n.name for n in status.nodes]
    return [
        gauge("fencing", "1 while this node is fencing the node.", ["node"],
              (([n], _flag(n in status.fencing)) for n in nodes)),
        gauge("manual_fence_pending", "1 while the node waits for `tandem fence ack`.",
              ["node"], (([n], _flag(n in status.manual_fence_pending)) for n in nodes)),
        state_set("fence_devices", "Last check of each fence device this node would use "
                  "(1 for its result).", ["node", "level", "device"],
                  (([d.node, str(d.level), d.device], d.state)
                   for d in status.fence_devices), _states("fence_device")),
    ]


def _qdisk(qdisk: QdiskStatus | None) -> list[Metric]:
    if qdisk is None:
        return []
    disk = [qdisk.device, qdisk.label]
    return [
        gauge("qdisk_online", "1 if this node reads and writes the quorum disk.",
              ["device", "label"], [(disk, _flag(qdisk.online))]),
        state_set("qdisk_state", "This node's quorum-disk process (1 for its state).",
                  ["device", "label"], [(disk, qdisk.state)], _states("qdisk")),
        gauge("qdisk_votes", "Votes the disk is worth now (current) and by "
              "configuration (configured).", ["type"],
              [(["current"], float(qdisk.votes)),
               (["configured"], float(qdisk.configured_votes))]),
        gauge("qdisk_score", "This node's heuristics score (mine) and the most it can "
              "be (max).", ["type"],
              [(["mine"], float(qdisk.my_score)), (["max"], float(qdisk.max_score))]),
        gauge("qdisk_master", "1 for the node the disk names master.", ["node"],
              (([n.name], _flag(n.name == qdisk.master)) for n in qdisk.nodes)),
        gauge("qdisk_node_alive", "1 if the node updates its block on the disk.", ["node"],
              (([n.name], _flag(n.alive)) for n in qdisk.nodes)),
    ]


def scrape_families(success: bool, seconds: float) -> list[Metric]:
    """Whether the daemon answered this scrape, and how long the scrape took."""
    return [
        gauge("scrape_success", "1 if the daemon answered this scrape, 0 if not.", [],
              [([], _flag(success))]),
        gauge("scrape_duration_seconds", "How long this scrape took.", [],
              [([], seconds)]),
    ]


class Histogram:
    """Observations per label values, bucketed as Prometheus wants them."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def seed(self, labels: tuple[str, ...]) -> None:
        """Show a label set at zero before its first observation."""
        self._counts.setdefault(labels, [0] * (len(self.bounds) + 1))

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        self.seed(labels)
        self._counts[labels][bisect.bisect_left(self.bounds, value)] += 1
        self._sums[labels] = self._sums.get(labels, 0.0) + value

    def family(self, suffix: str, doc: str, labels: Sequence[str]) -> Metric:
        family = HistogramMetricFamily(_name(suffix), doc, labels=list(labels))
        for values, counts in sorted(self._counts.items()):
            running, buckets = 0, []
            for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), counts,
                                    strict=True):
                running += count
                buckets.append((bound, float(running)))
            family.add_metric(list(values), buckets, self._sums.get(values, 0.0))
        return family


class EventTotals:
    """Counters and histograms the exporter keeps for its lifetime, fed with the daemon's
    timeline a scrape at a time (`follow`): the timeline is bounded and lost when the
    daemon restarts, so the totals live here and only ever grow.

    Failover duration, per service: from the moment the node that ran it (as the
    cell-wide `service` events showed) entered lost, unclean or fencing (a `node` event),
    to the `service` event that shows it started on another node. It covers fencing and
    the start, not the detection before it (the token timeout: the timeline does not say
    when the node fell silent); a relocation asked by an operator, a start on the same node
    once it is back online, or a failover whose start is older than the timeline are not
    counted. Every node's
    timeline has these events, so every node's exporter measures it.

    Fences: `fence_done`, `fence_failed` and `fence_ack` events, i.e. the fences this
    node ran or had confirmed; their durations from `fence_done`.
    """

    def __init__(self) -> None:
        self.cursor = 0  # the last event sequence number read
        self.incarnation: int | None = None  # of the daemon whose timeline we follow
        self.fences: Counter[tuple[str, str]] = Counter()
        self.failover = Histogram(FAILOVER_BUCKETS)
        self.fence_seconds = Histogram(FENCE_BUCKETS)
        self._owner: dict[str, str] = {}  # service -> node it last started on
        self._lost_at: dict[str, tuple[str, float]] = {}  # service -> (node, seconds)

    def daemon_seen(self, incarnation: int | None) -> None:
        """A daemon answered with this incarnation: a new one has a timeline of its own,
        read from its start (the totals so far are kept)."""
        if incarnation != self.incarnation:
            self.incarnation = incarnation
            self.cursor = 0
            self._owner.clear()
            self._lost_at.clear()

    def follow(self, answer: Any) -> None:
        """Take in an `events` answer ({"last": N, "events": [...]}) asked with
        `since=self.cursor`; RecordError if it is not one."""
        try:
            last, events = int(answer["last"]), list(answer["events"])
            for event in events:
                self._take(event)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"tandemd events: unreadable answer ({exc})") from None
        self.cursor = last

    def _take(self, event: Mapping[str, Any]) -> None:
        kind, node, ts = event["kind"], event.get("node"), event["ts_ms"] / 1000
        if kind in FENCE_RESULTS and node:
            self.fences[(node, FENCE_RESULTS[kind])] += 1
            if kind == EventKind.FENCE_DONE and "duration_ms" in event:
                self.fence_seconds.observe((node,), event["duration_ms"] / 1000)
        elif kind == EventKind.NODE:
            self._node(node, event.get("state"), ts)
        elif kind == EventKind.SERVICE:
            self._service(event["service"], event.get("state"), node, ts)

    def _node(self, node: str | None, state: str | None, ts: float) -> None:
        """A node that failed starts the failover of what it ran; one that is online
        again ends it unmeasured (what it ran may start there again)."""
        for service, owner in self._owner.items():
            if owner != node:
                continue
            if state in FAILED_NODE_STATES:
                self._lost_at.setdefault(service, (owner, ts))
            elif state == "online":
                self._lost_at.pop(service, None)

    def _service(self, service: str, state: str | None, node: str | None,
                 ts: float) -> None:
        if state == "disabled":
            self._lost_at.pop(service, None)
        lost = self._lost_at.get(service)
        if state != "started" or not node or (lost is not None and lost[0] == node):
            return  # the lost node may still be shown as the owner: not a new start
        self._owner[service] = node
        if lost is not None:
            del self._lost_at[service]
            self.failover.observe((service,), max(0.0, ts - lost[1]))

    def families(self, status: CellStatus | None) -> Iterator[Metric]:
        """The totals; the nodes and services of `status` are shown from zero."""
        if status is not None:
            for node in status.nodes:
                for result in FENCE_RESULTS.values():
                    self.fences.setdefault((node.name, result), 0)
            for service in status.services:
                self.failover.seed((service.name,))
        yield counter("fences", "Fence operations this node ran or had confirmed, by "
                      "result (ok, failed, acked).", ["node", "result"],
                      ((list(key), float(n)) for key, n in sorted(self.fences.items())))
        yield self.fence_seconds.family(
            "fence_duration_seconds", "How long successful fences took.", ["node"])
        yield self.failover.family(
            "failover_duration_seconds", "From the loss of the node that ran the service "
            "to its start on another node.", ["service"])
