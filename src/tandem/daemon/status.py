"""The daemon's status (what `tandem status --json` prints), built from the engine as a
CellStatus (tandem.common.status); the control socket sends its `to_json()`."""

from __future__ import annotations

import time

from tandem.common.status import (
    CellStatus,
    HeartbeatStatus,
    NodeStatus,
    QuorumStatus,
    RingStatus,
    StorageStatus,
)
from tandem.config import NodeDef
from tandem.daemon.engine import Engine
from tandem.manager.placement import cell_locked
from tandem.membership.detector import RingState
from tandem.membership.ledger import NodeState


def engine_status(engine: Engine) -> CellStatus:
    """Cluster, quorum, members with their states and rings, fencing, counters."""
    now_mono = time.monotonic()
    offset = time.time() - now_mono
    view = engine.view
    config = engine.config
    newest = max([config.config_version, *(r.config_version for r in engine.claims.values())])
    cell = engine.cell
    return CellStatus(
        cluster=config.name,
        local=engine.local.name,
        quorate=cell.quorum.quorate,
        quorum=QuorumStatus(votes=cell.quorum.total_votes, needed=cell.quorum.needed,
                            expected=config.total_votes, reason=cell.quorum.reason,
                            two_node=config.two_node, wait_for_all=config.wait_for_all,
                            unblocked=cell.unblocked),
        coordinator=engine.ids.get(cell.coordinator) if cell.coordinator else None,
        config_version=config.config_version,
        nodes=tuple(_node(engine, node, offset, newest) for node in config.nodes),
        rings=tuple(RingStatus(ring=r.ring or 0, network=r.name,
                               state=cell.rings.get(r.ring or 0, RingState.UNKNOWN).value)
                    for r in config.rings),
        redundancy_degraded=bool(view and view.redundancy_degraded),
        fencing=tuple(sorted(engine.ids[n] for n in engine.fencer.running)),
        fence_devices=tuple(engine.fence_checks.status()),
        manual_fence_pending=tuple(engine.fencer.acks.pending()),
        transport={str(ring): counters for ring, counters in engine.net.stats().items()}
        if engine.net else {},
        realtime=(engine.net.scheduling.detail if engine.net and engine.net.scheduling
                  else "not requested"),
        heartbeat=_heartbeat(engine),
        services=tuple(engine.display.rows(
            engine.config, {**engine.store.reports,
                            engine.local.id: engine.local_services.report()},
            engine.local.id, engine.store.intents, engine.store.placement)),
        qdisk=engine.disk.status(engine.ids),
        probed=engine.local_services.probed,
        uptime_s=round(now_mono - engine.started, 1),
        locked=cell_locked(engine.store.intents),
        storage=_storage(engine),
    )


def _node(engine: Engine, node: NodeDef, offset: float, newest: int) -> NodeStatus:
    """One member's row; `offset` turns the ledger's monotonic times into wall clock,
    `newest` is the newest config_version any member runs."""
    record = engine.ledger.records[node.id]
    peer = engine.view.peers.get(node.id) if engine.view else None
    local = node.id == engine.local.id
    rings: dict[str, str] = {}
    for itf in node.interfaces:
        ring = engine.config.network(itf.network).ring
        if ring is None:
            continue
        if local:
            rings[itf.network] = "local"
        elif peer is not None and ring in peer.rings:
            rings[itf.network] = "up" if peer.rings[ring] else "down"
    report = engine.claims.get(node.id)
    version = engine.config.config_version if local \
        else report.config_version if report else None
    return NodeStatus(
        name=node.name, id=node.id, votes=node.votes, state=record.state.value, local=local,
        since=round(record.since + offset, 3), note=record.note,
        incarnation=record.incarnation, rings=rings, config_version=version,
        fence_failures=record.fence_failures,
        config_outdated=record.state == NodeState.ONLINE and (version or 0) < newest)


def _heartbeat(engine: Engine) -> HeartbeatStatus | None:
    stats = engine.net.heartbeat_stats() if engine.net is not None else None
    if stats is None:
        return None
    return HeartbeatStatus(sent=stats.sent, errors=stats.errors, skipped=stats.skipped,
                           max_lag_ms=round(stats.max_lag_s * 1000, 2),
                           mean_lag_ms=round(stats.mean_lag_s * 1000, 2),
                           p99_lag_ms=round(stats.p99_lag_s * 1000, 2))


def _storage(engine: Engine) -> StorageStatus:
    watch, errors = engine.storage_watch, engine.local_services.storage
    c = watch.counters
    return StorageStatus(kernel_log=watch.running, records=c.records, io_errors=c.io_errors,
                         reported=errors.reported, relevant=errors.relevant, lost=c.lost,
                         last_error=c.last_error)
