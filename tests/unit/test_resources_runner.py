"""`tandem agent run|list|info`: parsing KEY=VALUE words by the declared types, running
an action and exiting with its OCF code, and letting an action's follow-up work finish."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import ClassVar

import pytest

from tandem.cli.main import main
from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    not_running,
    success,
)
from tandem.resources.registry import get_agent
from tandem.resources.runner import (
    ArgumentError,
    parse_params,
    parse_value,
    run_action,
    run_once,
)


def test_values_follow_declared_types() -> None:
    parsed = parse_params(get_agent("fs"), ["device=/dev/x", "mountpoint=/m", "fsck=yes",
                                            "kill_rounds=2", "kill_wait_s=0.5",
                                            "force_unmount=OFF"], "r")
    assert parsed == {"device": "/dev/x", "mountpoint": "/m", "fsck": True,
                      "kill_rounds": 2, "kill_wait_s": 0.5, "force_unmount": False}


@pytest.mark.parametrize(("kind", "text", "value"), [
    ("integer", "-3", -3), ("float", "2", 2.0), ("boolean", "1", True),
    ("boolean", "No", False), ("list", "a,b,,c", ["a", "b", "c"]), ("list", "", []),
    ("list", '["a b", "c,d"]', ["a b", "c,d"]), ("table", '{"k": 1}', {"k": 1}),
    ("string", "a=b,c", "a=b,c"),
])
def test_parse_value(kind: str, text: str, value: object) -> None:
    assert parse_value(ParamSpec("p", kind), text) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "text"), [
    ("integer", "many"), ("integer", "1.5"), ("float", "fast"), ("boolean", "maybe"),
    ("list", "[1, 2"), ("list", '["a", 1'), ("table", "k=v"), ("table", "[1]"),
])
def test_parse_value_refuses(kind: str, text: str) -> None:
    with pytest.raises(ValueError, match=f"expected {kind}"):
        parse_value(ParamSpec("p", kind), text)  # type: ignore[arg-type]


def test_tables_from_dotted_words() -> None:
    ocf = get_agent("ocf")
    parsed = parse_params(ocf, ["type=IPaddr2", "params.ip=198.51.100.9",
                                "params.cidr_netmask=24"], "vip")
    assert parsed["params"] == {"ip": "198.51.100.9", "cidr_netmask": "24"}
    with pytest.raises(ParamError, match=r"type\.x: type is a string, not a table"):
        parse_params(ocf, ["type.x=1"], "vip")
    merged = parse_params(ocf, ['params={"a": 1}', "params.b=2"], "vip")
    assert merged["params"] == {"a": 1, "b": "2"}


def test_malformed_words() -> None:
    with pytest.raises(ArgumentError, match="expected KEY=VALUE"):
        parse_params(get_agent("dummy"), ["delay_ms"], "r")
    with pytest.raises(ArgumentError):
        parse_params(get_agent("dummy"), ["=3"], "r")
    with pytest.raises(ParamError, match="delay_ms: expected integer, got 'soon'"):
        parse_params(get_agent("dummy"), ["delay_ms=soon"], "r")


def test_unknown_names_reach_the_agent_check() -> None:
    result = run_once("dummy", "validate", ["colour=red"])
    assert result.code == OcfCode.ERR_CONFIGURED
    assert "colour: unknown parameter" in result.message and "delay_ms" in result.message


def test_outcomes_as_ocf_codes(tmp_path: Path) -> None:
    state = f"state_dir={tmp_path}"
    assert run_once("dummy", "status", [state]).code == OcfCode.NOT_RUNNING
    assert run_once("dummy", "start", [state], resource="r1").ok
    assert (tmp_path / "r1").exists()
    assert run_once("dummy", "status", [state], resource="r1").ok
    assert run_once("dummy", "validate", [state]).message == "parameters are valid"
    assert run_once("nope", "start", []).code == OcfCode.ERR_INSTALLED
    assert run_once("dummy", "promote", []).code == OcfCode.ERR_UNIMPLEMENTED
    assert run_once("dummy", "start", ["oops"]).code == OcfCode.ERR_ARGS
    assert run_once("dummy", "start", ["delay_ms=x"]).code == OcfCode.ERR_CONFIGURED


def test_timeout_is_reported() -> None:
    result = run_once("dummy", "start", ["delay_ms=5000", "state_dir=/nonexistent"],
                      timeout_s=0.2)
    assert result.code == OcfCode.ERR_GENERIC
    assert "timed out after 0.2 s" in result.message


class Lingering(ResourceAgent):
    """Leaves work behind after start, as the ip agent does with its announcements."""

    name = "lingering"
    summary = "test agent"
    params = (ParamSpec("marker", "string", required=True, description="file"),)
    tasks: ClassVar[set[asyncio.Task[None]]] = set()

    async def start(self) -> AgentResult:
        self.tasks.add(asyncio.get_running_loop().create_task(self._later()))
        return success()

    async def _later(self) -> None:
        await asyncio.sleep(0.1)
        Path(self.values["marker"]).write_text("done")

    async def stop(self) -> AgentResult:
        return success()

    async def status(self) -> AgentResult:
        return not_running()


def test_follow_up_work_finishes_before_a_one_shot_run_ends(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    result = asyncio.run(run_action(Lingering, "start", "r", {"marker": str(marker)}))
    assert result.ok
    assert marker.read_text() == "done"


def test_cli_run_exits_with_the_ocf_code(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["agent", "run", "dummy", "status", f"state_dir={tmp_path}", "--json"]
    assert main(argv) == 7
    out = json.loads(capsys.readouterr().out)
    assert out["meaning"] == "NOT_RUNNING" and out["resource"] == "dummy"
    assert main(["agent", "run", "dummy", "start", f"state_dir={tmp_path}",
                 "--resource", "web"]) == 0
    assert capsys.readouterr().out.startswith("dummy start web: SUCCESS")
    assert main(["agent", "run", "dummy", "start", "delay_ms=-1"]) == 6
    assert "delay_ms: must be >= 0" in capsys.readouterr().out


def test_cli_list_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "list", "--json"]) == 0
    listed = {a["name"]: a["summary"] for a in json.loads(capsys.readouterr().out)}
    assert {"ip", "fs", "script", "ocf", "process", "dummy"} <= set(listed)
    assert main(["agent", "info", "fs", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {p["name"] for p in info["params"]} >= {"device", "mountpoint", "force_unmount"}
    assert main(["agent", "info", "process"]) == 0
    text = capsys.readouterr().out
    assert "stop_signal" in text and "one of: TERM, INT" in text
    assert main(["agent", "info", "nope"]) == 2
