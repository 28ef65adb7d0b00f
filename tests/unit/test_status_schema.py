"""The checked-in JSON Schema of `tandem status --json` (what monitoring and the
management node read): real statuses validate, broken ones do not, and the schema
names exactly the keys of the dataclasses and the states the code can produce."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import tandem.quorum
from tandem.common import status as common_status
from tandem.common.status import (
    CellStatus,
    FenceDeviceStatus,
    HeartbeatStatus,
    NodeStatus,
    QdiskNodeStatus,
    QdiskStatus,
    QuorumStatus,
    RingStatus,
    ServiceStatus,
    StorageStatus,
    schema,
)
from tandem.manager.model import LocalState
from tandem.membership.detector import RingState
from tandem.membership.ledger import NodeState

# Recorded from the daemon's status code on an engine-like fixture (see
# test_status_contract.py): one busy cell with a quorum disk, one just started.
RECORDED = json.loads((Path(__file__).parent / "data" / "status_before_dataclasses.json")
                      .read_text())
DEFS = {"quorum": QuorumStatus, "node": NodeStatus, "ring": RingStatus,
        "fence_device": FenceDeviceStatus, "heartbeat": HeartbeatStatus,
        "service": ServiceStatus, "qdisk_node": QdiskNodeStatus, "qdisk": QdiskStatus,
        "storage": StorageStatus}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    checked = schema()
    jsonschema.Draft202012Validator.check_schema(checked)
    return jsonschema.Draft202012Validator(checked)


def errors(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    """Every error as "path: message", the reasons inside an anyOf included."""
    found = []
    pending = list(validator.iter_errors(doc))
    while pending:
        error = pending.pop()
        found.append(f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
        pending += error.context or []
    return found


def _copy(variant: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(RECORDED[variant]))
    return doc


@pytest.mark.parametrize("variant", ["full", "bare"])
def test_realistic_statuses_validate(validator: jsonschema.Draft202012Validator,
                                     variant: str) -> None:
    status = CellStatus.from_json(RECORDED[variant])
    assert errors(validator, status.to_json()) == []


def test_every_state_the_code_knows_validates(
        validator: jsonschema.Draft202012Validator) -> None:
    for state in NodeState:
        doc = _copy("full")
        doc["nodes"][1]["state"] = state.value
        assert errors(validator, doc) == [], state
    for shown in common_status.SERVICE_STATES:
        doc = _copy("full")
        doc["services"][0]["state"] = shown
        assert errors(validator, doc) == [], shown


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d["nodes"][0].pop("state"), "nodes/0"),                # missing key
    (lambda d: d.pop("quorate"), ""),
    (lambda d: d["quorum"].update(votes="2"), "quorum/votes"),        # wrong type
    (lambda d: d.update(coordinator=1), "coordinator"),
    (lambda d: d.update(heartbeat={"sent": 1}), "heartbeat"),         # half an object
    (lambda d: d["nodes"][1].update(state="zombie"), "nodes/1/state"),  # unknown state
    (lambda d: d["services"][0].update(state="running"), "services/0/state"),
    (lambda d: d["rings"][0].update(state="flapping"), "rings/0/state"),
    (lambda d: d["qdisk"].update(state="master"), "qdisk/state"),
    (lambda d: d["nodes"][0]["rings"].update(admin="maybe"), "nodes/0/rings/admin"),
    (lambda d: d["transport"].update(admin={}), "transport"),         # rings by number
    (lambda d: d.update(surprise=True), ""),                          # undocumented key
])
def test_a_broken_status_fails_validation(validator: jsonschema.Draft202012Validator,
                                          change: Any, where: str) -> None:
    doc = _copy("full")
    change(doc)
    found = errors(validator, doc)
    assert found and any(e.startswith(f"{where}:") for e in found), found


def _properties(part: dict[str, Any]) -> tuple[list[str], list[str]]:
    return list(part["properties"]), list(part["required"])


def test_the_schema_names_exactly_the_keys_of_the_dataclasses() -> None:
    checked = schema()
    for name, record in [("", CellStatus), *DEFS.items()]:
        part = checked["$defs"][name] if name else checked
        fields = dataclasses.fields(record)
        keys = [f.name for f in fields]
        # A key added later has a default: documents from before may lack it.
        required = [f.name for f in fields if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        assert _properties(part) == (keys, required), record.__name__
        assert part["additionalProperties"] is False


def _enum(path: list[str]) -> list[str]:
    part: Any = schema()
    for key in path:
        part = part[key]
    return list(part["enum"])


def _slot_states() -> list[str]:
    """The quorum disk's slot states, wherever its format module lives."""
    for info in pkgutil.walk_packages(tandem.quorum.__path__, "tandem.quorum."):
        found = getattr(importlib.import_module(info.name), "SlotState", None)
        if found is not None:
            return [s.name.lower() for s in found]
    raise AssertionError("SlotState not found")


def test_the_schema_lists_the_states_the_code_produces() -> None:
    node = ["$defs", "node", "properties"]
    assert _enum([*node, "state"]) == [s.value for s in NodeState]
    assert _enum([*node, "rings", "additionalProperties"]) == ["local", "up", "down"]
    assert _enum(["$defs", "ring", "properties", "state"]) == [s.value for s in RingState]
    service = ["$defs", "service", "properties"]
    assert _enum([*service, "state"]) == list(common_status.SERVICE_STATES)
    assert _enum([*service, "local"]) == [s.value for s in LocalState]
    assert _enum(["$defs", "fence_device", "properties", "state"]) == \
        list(common_status.FENCE_DEVICE_STATES)
    assert _enum(["$defs", "qdisk", "properties", "state"]) == _slot_states()


def test_the_schema_ships_with_the_package() -> None:
    assert (Path(common_status.__file__).parent / common_status.SCHEMA_FILE).is_file()
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
