"""A readable account of a quorum disk from a single read, for `tandem qdisk status`.

The runners judge liveness by watching sequence counters move over time; a one-shot
reader has no history, so it judges by the age of each slot's wall-clock timestamp
against the writer's own tko. That assumes the nodes' clocks roughly agree (NTP), which
is fine for a human-facing report and is never used for a decision.
"""

from __future__ import annotations

from typing import Any

from tandem.quorum.qdisk.device import DiskImage
from tandem.quorum.qdisk.format import Role, SlotState


def disk_report(image: DiskImage, device: str, now: float) -> dict[str, Any]:
    """The header and every written slot as plain data (JSON-ready)."""
    header = image.header
    slots: list[dict[str, Any]] = []
    for record in image.slots:
        slot = record.slot
        if record.error:
            slots.append({"node_id": record.node_id, "error": record.error})
            continue
        if slot is None:
            continue
        age = max(0.0, now - slot.timestamp)
        fresh = slot.state != SlotState.STOPPED and age <= slot.tko_s
        slots.append({
            "node_id": slot.node_id, "name": slot.name, "state": slot.state.name.lower(),
            "role": slot.role.name.lower(), "fresh": fresh, "age_s": round(age, 3),
            "last_write": slot.timestamp, "seq": slot.seq, "incarnation": slot.incarnation,
            "score": slot.score, "max_score": slot.max_score, "score_ok": slot.score_ok,
            "vote": slot.vote, "seen": sorted(slot.seen), "interval_ms": slot.interval_ms,
            "tko": slot.tko, "error": ""})
    masters = [s["node_id"] for s in slots
               if s.get("fresh") and s.get("role") == Role.MASTER.name.lower()]
    return {"device": device, "label": header.label, "cell": header.cell,
            "version": header.version, "uuid": header.uuid.hex(), "created": header.created,
            "block_size": header.block_size, "max_nodes": header.max_nodes,
            "master": min(masters) if masters else None, "masters": masters, "slots": slots}
