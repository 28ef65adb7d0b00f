"""Fence targets and the ipmi/external devices' side of their protocols, with stand-in
programs: the stdin an agent receives, exit codes, error classification, timeouts.
(Against a real BMC and the real fence_ipmilan: tests/lab/test_fencing_lab.py.)"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from tandem.config.model import BmcDef, FenceDeviceDef, NodeDef
from tandem.fencing import (
    ExternalDevice,
    FenceAgentError,
    FenceAuthError,
    FenceConfigError,
    FenceTarget,
    FenceTimeout,
    FenceUnreachable,
    IpmiDevice,
    ManualAcks,
    PowerState,
    make_device,
    resolve_target,
)

NODE = NodeDef(name="node1", id=1,
               bmc=BmcDef(address="198.51.100.101", port=6230, user="admin", password="bmc-pw"))


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# -- targets ------------------------------------------------------------------------


def test_target_comes_from_the_node_bmc() -> None:
    target = resolve_target(NODE, FenceDeviceDef(name="bmc", type="ipmi"))
    assert target == FenceTarget(node="node1", address="198.51.100.101", port=6230,
                                 user="admin", password="bmc-pw")
    assert "bmc-pw" not in repr(target)


def test_device_fields_override_the_node(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    device = FenceDeviceDef(name="pdu", type="external", agent="fence_x",
                            address="203.0.113.9", port=161, user="ops", password_file="pw")
    target = resolve_target(NODE, device, base_dir=tmp_path)
    assert (target.address, target.port, target.user, target.password) == (
        "203.0.113.9", 161, "ops", "from-file")


def test_unreadable_password_file_is_a_config_error(tmp_path: Path) -> None:
    node = NodeDef(name="n", id=1, bmc=BmcDef(address="198.51.100.1",
                                              password_file=str(tmp_path / "missing")))
    with pytest.raises(FenceConfigError, match="cannot read password file"):
        resolve_target(node, FenceDeviceDef(name="bmc", type="ipmi"))
    # ...but the operator's manual device still works for that node.
    manual = resolve_target(node, FenceDeviceDef(name="op", type="manual"))
    assert manual == FenceTarget(node="n")


def test_make_device_by_type() -> None:
    acks = ManualAcks()
    assert isinstance(make_device(FenceDeviceDef(name="a", type="ipmi"), acks), IpmiDevice)
    assert isinstance(make_device(FenceDeviceDef(name="b", type="external", agent="fence_x"),
                                  acks), ExternalDevice)
    with pytest.raises(FenceConfigError, match="unknown option"):
        make_device(FenceDeviceDef(name="c", type="ipmi", options=(("plug", "1"),)), acks)


# -- ipmi -----------------------------------------------------------------------------


def test_ipmitool_command_line_never_holds_the_password() -> None:
    device = IpmiDevice(FenceDeviceDef(name="bmc", type="ipmi", timeout_s=20,
                                       options=(("cipher", "17"),)))
    argv = device.argv(resolve_target(NODE, device.definition), "off")
    assert "bmc-pw" not in " ".join(argv)
    assert argv[-3:] == ["chassis", "power", "off"]
    assert argv[argv.index("-C") + 1] == "17" and argv[argv.index("-R") + 1] == "3"
    short = IpmiDevice(FenceDeviceDef(name="bmc", type="ipmi", timeout_s=3))
    argv = short.argv(FenceTarget(node="n", address="x"), "status")
    assert argv[argv.index("-R") + 1] == "1"  # retries fit in the device's timeout
    with pytest.raises(FenceConfigError, match="no address"):
        short.argv(FenceTarget(node="n"), "off")
    with pytest.raises(FenceConfigError, match="no password"):
        asyncio.run(short.off(FenceTarget(node="n", address="x")))


@pytest.mark.parametrize(("stderr", "error"), [
    ("Using best available cipher suite 17\n> RAKP 2 HMAC is invalid\n"
     "Error: Unable to establish IPMI v2 / RMCP+ session", FenceAuthError),
    ("RAKP 2 message indicates an error : unauthorized name\n"
     "Error: Unable to establish IPMI v2 / RMCP+ session", FenceAuthError),
    ("Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities "
     "request\nError: Unable to establish IPMI v2 / RMCP+ session", FenceUnreachable),
    ("Error in open session response message : no matching cipher suite\n"
     "Error: Unable to establish IPMI v2 / RMCP+ session", FenceAgentError),
    ("Set Chassis Power Control to Down/Off failed: Unspecified error", FenceAgentError),
])
def test_ipmitool_failures_are_classified(tmp_path: Path, stderr: str,
                                          error: type[Exception]) -> None:
    (tmp_path / "stderr").write_text(stderr)
    fake = script(tmp_path, "ipmitool", f'cat "{tmp_path}/stderr" >&2; exit 1\n')
    device = IpmiDevice(FenceDeviceDef(name="bmc", type="ipmi"), ipmitool=str(fake))
    with pytest.raises(error) as caught:
        asyncio.run(device.off(resolve_target(NODE, device.definition)))
    assert caught.type is error
    message = str(caught.value)
    assert "\n" not in message and "bmc: power off of node1 via 198.51.100.101:6230" in message
    assert "Using best available" not in message


def test_ipmitool_gets_the_password_from_its_environment(tmp_path: Path) -> None:
    fake = script(tmp_path, "ipmitool",
                  'echo "$IPMI_PASSWORD" > "$0.pw"; echo "Chassis Power is off"\n')
    device = IpmiDevice(FenceDeviceDef(name="bmc", type="ipmi"), ipmitool=str(fake))
    state = asyncio.run(device.status(resolve_target(NODE, device.definition)))
    assert state is PowerState.OFF
    assert (tmp_path / "ipmitool.pw").read_text() == "bmc-pw\n"


# -- external -------------------------------------------------------------------------

AGENT = """\
cat > "$0.stdin"
action=$(sed -n 's/^action=//p' "$0.stdin")
case "$action" in
  status) [ "$(cat "$0.state")" = on ] && exit 0; exit 2 ;;
  off) echo off > "$0.state"; exit 0 ;;
  on) echo "2026-01-01 10:00:00,000 ERROR: Failed: Unable to obtain correct plug status" >&2
      exit 1 ;;
  hang) sleep 300 ;;
esac
exit 1
"""


def external(tmp_path: Path, timeout_s: float = 10.0,
             options: tuple[tuple[str, str], ...] = ()) -> tuple[ExternalDevice, Path]:
    agent = script(tmp_path, "fence_fake", AGENT)
    (tmp_path / "fence_fake.state").write_text("on\n")
    definition = FenceDeviceDef(name="pdu", type="external", agent="fence_fake",
                                options=options, timeout_s=timeout_s)
    return ExternalDevice(definition, agent_dirs=(tmp_path,)), agent


def test_agent_reads_parameters_on_stdin(tmp_path: Path) -> None:
    device, agent = external(tmp_path, options=(("ipport", "7000"), ("power_wait", "0"),
                                                 ("action", "reboot")))
    target = resolve_target(NODE, device.definition)

    async def go() -> list[PowerState]:
        before = await device.status(target)
        await device.off(target)
        return [before, await device.status(target)]

    assert asyncio.run(go()) == [PowerState.ON, PowerState.OFF]
    lines = Path(f"{agent}.stdin").read_text().splitlines()
    assert lines == ["action=status", "ip=198.51.100.101", "ipport=7000", "username=admin",
                     "password=bmc-pw", "lanplus=1", "power_wait=0"]


def test_agent_failure_is_one_clean_line(tmp_path: Path) -> None:
    device, _ = external(tmp_path)
    with pytest.raises(FenceAgentError) as caught:
        asyncio.run(device.on(resolve_target(NODE, device.definition)))
    assert str(caught.value) == ("pdu: fence_fake on of node1 (exit 1): Failed: Unable to "
                                 "obtain correct plug status")


def test_agent_timeout_kills_it(tmp_path: Path) -> None:
    device, _ = external(tmp_path, timeout_s=0.5)
    target = resolve_target(NODE, device.definition)
    with pytest.raises(FenceTimeout):
        asyncio.run(device._run(target, "hang"))


def test_missing_agent_and_bad_options_are_config_errors(tmp_path: Path) -> None:
    missing = ExternalDevice(FenceDeviceDef(name="x", type="external", agent="fence_nope"),
                             agent_dirs=(tmp_path,))
    with pytest.raises(FenceConfigError, match="fence_nope"):
        asyncio.run(missing.off(FenceTarget(node="n")))
    device, _ = external(tmp_path, options=(("plug", "a\nb"),))
    with pytest.raises(FenceConfigError, match="newline"):
        asyncio.run(device.off(FenceTarget(node="n")))
