"""The daemon's status as JSON-ready data (what `tandem status --json` prints)."""

from __future__ import annotations

import time
from typing import Any

from tandem.daemon.engine import Engine
from tandem.membership.detector import RingState


def engine_status(engine: Engine) -> dict[str, Any]:
    """Cluster, quorum, members with their states and rings, fencing, counters."""
    now_mono = time.monotonic()
    offset = time.time() - now_mono
    view = engine.view
    nodes: list[dict[str, Any]] = []
    for node in engine.config.nodes:
        record = engine.ledger.records[node.id]
        peer = view.peers.get(node.id) if view else None
        rings: dict[str, str] = {}
        for itf in node.interfaces:
            ring = engine.config.network(itf.network).ring
            if ring is None:
                continue
            if node.id == engine.local.id:
                rings[itf.network] = "local"
            elif peer is not None and ring in peer.rings:
                rings[itf.network] = "up" if peer.rings[ring] else "down"
        report = engine.claims.get(node.id)
        nodes.append({
            "name": node.name, "id": node.id, "votes": node.votes,
            "state": record.state.value, "local": node.id == engine.local.id,
            "since": round(record.since + offset, 3), "note": record.note,
            "incarnation": record.incarnation, "rings": rings,
            "config_version": (engine.config.config_version if node.id == engine.local.id
                               else report.config_version if report else None),
            "fence_failures": record.fence_failures,
        })
    newest = max([engine.config.config_version,
                  *(r.config_version for r in engine.claims.values())])
    for row in nodes:
        row["config_outdated"] = row["state"] == "online" and \
            (row["config_version"] or 0) < newest
    cell = engine.cell
    return {
        "cluster": engine.config.name,
        "local": engine.local.name,
        "quorate": cell.quorum.quorate,
        "quorum": {"votes": cell.quorum.total_votes, "needed": cell.quorum.needed,
                   "expected": engine.config.total_votes, "reason": cell.quorum.reason,
                   "two_node": engine.config.two_node,
                   "wait_for_all": engine.config.wait_for_all,
                   "unblocked": cell.unblocked},
        "coordinator": engine.ids.get(cell.coordinator) if cell.coordinator else None,
        "config_version": engine.config.config_version,
        "nodes": nodes,
        "rings": [{"ring": r.ring, "network": r.name,
                   "state": cell.rings.get(r.ring or 0, RingState.UNKNOWN).value}
                  for r in engine.config.rings],
        "redundancy_degraded": bool(view and view.redundancy_degraded),
        "fencing": sorted(engine.ids[n] for n in engine.fencer.running),
        "fence_devices": engine.fence_checks.status(),
        "manual_fence_pending": list(engine.fencer.acks.pending()),
        "transport": engine.net.stats() if engine.net else {},
        "realtime": (engine.net.scheduling.detail if engine.net and engine.net.scheduling
                     else "not requested"),
        "heartbeat": _heartbeat_stats(engine),
        "services": engine.display.rows(engine.config, {
            **engine.store.reports, engine.local.id: engine.local_services.report()},
            engine.local.id, engine.store.intents, engine.store.placement),
        "qdisk": engine.disk.status(engine.ids),
        "probed": engine.local_services.probed,
        "uptime_s": round(now_mono - engine.started, 1),
    }


def _heartbeat_stats(engine: Engine) -> dict[str, Any]:
    stats = engine.net.heartbeat_stats() if engine.net is not None else None
    if stats is None:
        return {}
    return {"sent": stats.sent, "errors": stats.errors, "skipped": stats.skipped,
            "max_lag_ms": round(stats.max_lag_s * 1000, 2),
            "mean_lag_ms": round(stats.mean_lag_s * 1000, 2)}
