"""`tandem check cell`: the cell's HA System Status as a Nagios/Icinga plugin. Status
documents for each state (the recording of a real io12 node, adjusted), the one-line
format and its performance data checked against the plugin syntax, and the exit codes
through the real entry point, with a pretend tandemd on a real control socket."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleetkit import EXAMPLE_SITE, template_status

from tandem.cli.main import main
from tandem.common.status import CellStatus, FenceDeviceStatus
from tandem.monitor.check import CRITICAL, OK, UNKNOWN, WARNING, Perf, cell_result

HOMES: dict[str, str | None] = {"svc-io1": "io1", "svc-io2": "io2"}
CONFIG = str(EXAMPLE_SITE / "io12.toml")  # the recorded cell's configuration

# The plugin output: `TANDEM SERVICE STATE - text | perfdata`, each datum
# `label=value[UOM];warn;crit;min;max` (trailing fields may be left out), warn and crit
# Nagios ranges ([@][start:][end], `~` for minus infinity).
NUMBER = r"-?\d+(?:\.\d+)?"
RANGE = rf"@?(?:(?:{NUMBER}|~):)?(?:{NUMBER})?"
DATUM = (rf"(?P<label>'[^'=]+'|[^'= ]+)=(?P<value>{NUMBER})(?:%|s|ms|us|B|KB|MB|TB|c)?"
         rf"(?:;(?P<warn>{RANGE})(?:;(?P<crit>{RANGE})(?:;(?P<min>{NUMBER})?"
         rf"(?:;(?P<max>{NUMBER})?)?)?)?)?")
LINE = re.compile(r"TANDEM (?P<service>[A-Z]+) (?P<state>OK|WARNING|MIGRATED|CRITICAL|"
                  r"UNKNOWN) - (?P<text>[^|\n]+?)(?: \| (?P<perf>\S+(?: \S+)*))?")


def parse_line(line: str) -> tuple[str, str, str, dict[str, tuple[str, ...]]]:
    """(service, state, text, {label: (value, warn, crit, min, max)}) of a plugin line;
    fails the test when the line breaks the plugin syntax."""
    match = LINE.fullmatch(line)
    assert match, f"not a plugin line: {line!r}"
    perf = {}
    for datum in (match["perf"] or "").split():
        one = re.fullmatch(DATUM, datum)
        assert one, f"not performance data: {datum!r}"
        perf[one["label"]] = tuple(one[k] or "" for k in ("value", "warn", "crit", "min",
                                                         "max"))
    return match["service"], match["state"], match["text"], perf


def service(status: CellStatus, name: str, **changes: object) -> CellStatus:
    """`status` with service `name` changed."""
    services = tuple(dataclasses.replace(s, **changes) if s.name == name else s  # type: ignore[arg-type]
                     for s in status.services)
    return dataclasses.replace(status, services=services)


def node(status: CellStatus, name: str, state: str) -> CellStatus:
    nodes = tuple(dataclasses.replace(n, state=state) if n.name == name else n
                  for n in status.nodes)
    return dataclasses.replace(status, nodes=nodes)


# -- the rules ----------------------------------------------------------------------------
def test_a_healthy_cell_is_ok_with_its_numbers() -> None:
    result = cell_result(template_status(), HOMES)
    assert result.code == OK
    assert result.line() == (
        "TANDEM CELL OK - io12 quorate, 2/2 members online, 2/2 rings up, 2/2 services "
        "started | members_online=2;2:;;0;2 votes=2;;1:;0;2 quorum=1;;;0;2 "
        "rings_up=2;2:;;0;2 services_started=2;;;0;2 services_down=0;;0;0;2 "
        "services_away=0;0;;0;2")
    assert parse_line(result.line())[:2] == ("CELL", "OK")


@pytest.mark.parametrize(("change", "code", "says"), [
    (lambda s: dataclasses.replace(s, quorate=False), CRITICAL, "not quorate: quorate in"),
    (lambda s: service(s, "svc-io1", state="failed", owner=None), CRITICAL,
     "service svc-io1 failed"),
    (lambda s: service(s, "svc-io1", state="stopped", owner=None), CRITICAL,
     "service svc-io1 stopped"),
    (lambda s: service(s, "svc-io1", state="recovering", owner=None,
                       note="blocked: a stop failed on io1"), CRITICAL,
     "service svc-io1 recovering (blocked: a stop failed on io1)"),
    (lambda s: dataclasses.replace(s, manual_fence_pending=("io2",)), CRITICAL,
     "waiting for an operator: tandem fence ack io2"),
    (lambda s: node(s, "io2", "lost"), WARNING, "node io2 lost"),
    (lambda s: node(s, "io2", "unclean"), WARNING, "node io2 unclean"),
    (lambda s: node(s, "io2", "fenced"), WARNING, "node io2 fenced"),
    (lambda s: dataclasses.replace(s, rings=(s.rings[0], dataclasses.replace(
        s.rings[1], state="down"))), WARNING, "ring 1 (backbone) down"),
    (lambda s: service(s, "svc-io1", owner="io2"), WARNING,
     "service svc-io1 on io2, not its home io1"),
    (lambda s: service(s, "svc-io1", state="recovering", owner=None,
                       note="waiting for io1 to be fenced"), WARNING,
     "service svc-io1 recovering (waiting for io1 to be fenced)"),
    (lambda s: service(s, "svc-io1", state="frozen"), WARNING, "service svc-io1 frozen"),
    (lambda s: dataclasses.replace(s, fence_devices=(FenceDeviceStatus(
        "io2", 1, "bmc", "failed", "timed out", 1.0),)), WARNING,
     "fence device bmc for io2 failed"),
    (lambda s: dataclasses.replace(s, probed=False), WARNING, "start-up probe"),
    (lambda s: service(s, "svc-io1", state="disabled", owner=None, enabled=False), OK,
     "io12 quorate, 2/2 members online, 2/2 rings up, 1/2 services started"),
])
def test_each_state_and_the_rule_that_makes_it(change: object, code: int,
                                               says: str) -> None:
    assert callable(change)
    result = cell_result(change(template_status()), HOMES)
    _, state, text, _ = parse_line(result.line())
    assert (result.code, state) == (code, {OK: "OK", WARNING: "WARNING",
                                           CRITICAL: "CRITICAL"}[code])
    assert text.startswith(f"io12: {says}" if code != OK else says), text


def test_rings_nobody_is_left_to_hear_on_are_no_finding() -> None:
    alone = dataclasses.replace(node(template_status(), "io2", "fenced"), rings=tuple(
        dataclasses.replace(r, state="unknown") for r in template_status().rings))
    result = cell_result(alone, HOMES)
    assert result.text == ("io12: node io2 fenced (quorate, 1/2 members online, 0/2 rings "
                           "up, 2/2 services started)")
    assert parse_line(result.line())[3]["rings_up"] == ("0", "2:", "", "0", "2")


def test_critical_outranks_warning_and_is_named_first() -> None:
    status = service(node(template_status(), "io1", "lost"), "svc-io2", state="failed")
    result = cell_result(dataclasses.replace(status, quorate=True), HOMES)
    assert result.code == CRITICAL
    assert result.text == ("io12: service svc-io2 failed; node io1 lost (quorate, 1/2 "
                           "members online, 2/2 rings up, 1/2 services started)")
    perf = parse_line(result.line())[3]
    assert perf["members_online"] == ("1", "2:", "", "0", "2")
    assert perf["services_down"] == ("1", "", "0", "0", "2")


def test_an_inquorate_cell_says_so_in_its_summary() -> None:
    result = cell_result(dataclasses.replace(template_status(), quorate=False), HOMES)
    assert result.text.endswith("(NOT quorate, 2/2 members online, 2/2 rings up, 2/2 "
                                "services started)")


def test_without_homes_a_moved_service_is_not_judged() -> None:
    moved = service(template_status(), "svc-io1", owner="io2")
    assert cell_result(moved, {}).code == OK
    assert parse_line(cell_result(moved, HOMES).line())[3]["services_away"][0] == "1"


def test_perfdata_quotes_odd_labels_and_writes_numbers_plainly() -> None:
    assert Perf("a b", 1.5, warn="2:", low=0).render() == "'a b'=1.5;2:;;0"
    assert Perf("x", 3.0).render() == "x=3"
    assert Perf("t", 12, uom="ms", crit="100").render() == "t=12ms;;100"


def test_a_note_cannot_break_the_line() -> None:
    status = service(template_status(), "svc-io1", state="failed",
                     note="exit 1 | stderr:\nboom")
    line = cell_result(status, HOMES).line()
    assert "\n" not in line and line.count(" | ") == 1
    assert parse_line(line)[1] == "CRITICAL"


# -- through the command line -------------------------------------------------------------
@pytest.fixture()
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[CellStatus]]:
    """A pretend tandemd on a real control socket: it answers `status` with the last
    document of the list the test fills."""
    path = tmp_path / "tandemd.sock"
    monkeypatch.setenv("TANDEM_SOCKET", str(path))
    answers = [template_status()]
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                request = json.loads(conn.makefile().readline())
                assert request["cmd"] == "status"
                reply = {"ok": True, "result": answers[-1].to_json()}
                conn.sendall(json.dumps(reply).encode() + b"\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield answers
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
    server.close()
    thread.join(5)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["check", "cell", "--config", CONFIG, *args])
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1, out
    return code, out.strip()


def test_exit_codes_follow_the_daemon(daemon: list[CellStatus],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys)[0] == 0
    daemon.append(service(node(template_status(), "io1", "lost"), "svc-io1", owner="io2"))
    code, line = check(capsys)
    assert code == 1 and parse_line(line)[:3] == (
        "CELL", "WARNING", "io12: node io1 lost; service svc-io1 on io2, not its home io1 "
                           "(quorate, 1/2 members online, 2/2 rings up, 2/2 services started)")
    daemon.append(dataclasses.replace(template_status(), quorate=False))
    assert check(capsys)[0] == 2


def test_json_output(daemon: list[CellStatus], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "cell", "--config", CONFIG, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["state"] == "OK" and document["code"] == 0
    assert document["line"].startswith("TANDEM CELL OK - io12 quorate")


def test_unknown_when_the_daemon_cannot_be_reached(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TANDEM_SOCKET", str(tmp_path / "none.sock"))
    code, line = check(capsys)
    assert code == UNKNOWN
    assert parse_line(line) == ("CELL", "UNKNOWN", "tandemd is not running on this node "
                                f"(no {tmp_path}/none.sock)", {})


@pytest.mark.parametrize(("argv", "service"), [
    (["check"], "CHECK"),
    (["check", "bogus"], "CHECK"),
    (["check", "cell", "--bogus"], "CELL"),
    (["check", "cell", "--timeout", "soon"], "CELL"),
    (["check", "pairs"], "PAIRS"),
    (["check", "pairs", "-a", "-i", "io1"], "PAIRS"),
])
def test_bad_arguments_are_unknown_with_usage(argv: list[str], service: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == UNKNOWN
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1
    got_service, state, text, _ = parse_line(captured.out.strip())
    assert (got_service, state) == (service, "UNKNOWN") and text.startswith("bad arguments")
    assert captured.err.startswith("usage: tandem check") and "Traceback" not in captured.err
