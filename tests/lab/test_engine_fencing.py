"""Engine I in a two-node lab cell: loss detection, fencing through the lab BMCs, fence
races settled by the configured delay, rings, and rejoining after a reboot."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from enginekit import Cell, fence_starts, running_cell
from labkit import node_events, wait_for

pytestmark = pytest.mark.lab


def ipmitool_shells(cell: Cell, node: str) -> list[int]:
    """The `ipmitool ... shell` processes (kept IPMI sessions) running in `node`."""
    from tandem.lab.names import LabNames
    from tandem.lab.proc import netns_inode, pids_in_netns

    inode = netns_inode(LabNames(cell.record.name).node_ns(node))
    found = []
    for pid in pids_in_netns(inode) if inode is not None else []:
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"ipmitool") and b"shell" in argv:
                found.append(pid)
    return found


@pytest.mark.parametrize("fault", ["crash", "hang"])
def test_lost_node_is_fenced(tmp_path: Path, fault: str) -> None:
    with running_cell(tmp_path, f"f{fault}", fencing=True) as cell:
        getattr(cell.control, fault)("node2")
        cell.wait_state("node1", "node2", {"fenced"})
        assert cell.power("node2") == "off"  # the BMC really powered it off
        assert cell.power("node1") == "on"
        timeline = [(e["kind"], e["detail"].split(" (")[0])
                    for e in node_events(cell.control, "node1")
                    if e["node"] == "node2" and e["kind"] in ("node", "fence_start",
                                                              "fence_done")]
        assert timeline[-5:] == [("node", "online -> lost"), ("node", "lost -> fencing"),
                                 ("fence_start", timeline[-3][1]),
                                 ("node", "fencing -> fenced"),
                                 ("fence_done", timeline[-1][1])]
        assert_no_secrets(cell, "node1")


def assert_no_secrets(cell: Cell, observer: str) -> None:
    """After a run that fenced: no BMC password and no form of the cluster key in any
    node's log files, in any node's events file, or in `observer`'s status and events."""
    from tandem.lab.names import LabNames

    names = LabNames(cell.record.name)
    key_text = (names.node_root(observer) / "etc/tandem/cluster.key").read_text().strip()
    key = bytes.fromhex(key_text)
    secrets = {"lab-pass-1", "lab-pass-2", key_text, key_text.upper(),
               base64.b64encode(key).decode(), repr(key)[2:-1]}
    places: dict[str, str] = {}
    for node in cell.nodes:
        for log in (names.node_root(node) / "var/log/tandem").glob("*"):
            places[str(log)] = log.read_text(errors="replace")
        places[f"events file of {node}"] = json.dumps(cell.events_file(node))
    for command in (["status", "--json"], ["events", "--json"], ["fence", "history"]):
        done = subprocess.run(cell.control.exec_argv(observer, ["tandem", *command]),
                              capture_output=True, text=True, timeout=30)
        places[f"tandem {' '.join(command)}"] = done.stdout + done.stderr
    assert any("fence" in text for text in places.values())  # what was read is real
    leaks = [f"{secret[:6]}... in {place}" for place, text in places.items()
             for secret in secrets if secret in text]
    assert not leaks, leaks


def test_one_ring_cut_degrades_without_fencing(tmp_path: Path) -> None:
    with running_cell(tmp_path, "ring", fencing=True) as cell:
        cell.faults.cut("node2", "admin")
        status = wait_for(lambda: (s := cell.status("node1")) and s["redundancy_degraded"]
                          and s, 10, "node1 to report degraded redundancy")
        peer = next(n for n in status["nodes"] if n["name"] == "node2")
        assert peer["state"] == "online"
        assert peer["rings"] == {"admin": "down", "backbone": "up"}
        time.sleep(1.5)  # well past the token timeout: still no fencing
        assert cell.state_of("node1", "node2") == "online"
        assert fence_starts(node_events(cell.control, "node1")) == []
        assert fence_starts(node_events(cell.control, "node2")) == []
        cell.faults.heal("node2", "admin")
        wait_for(lambda: (s := cell.status("node1")) and not s["redundancy_degraded"], 10,
                 "redundancy to come back")


def test_all_rings_cut_exactly_one_is_fenced(tmp_path: Path) -> None:
    """Both nodes can still reach the BMCs; fencing node1 is delayed, so node2 goes,
    even though it is node1's cables that were pulled."""
    with running_cell(tmp_path, "race", fencing=True, bmc_net=True) as cell:
        cell.cut_rings("node1")
        cell.wait_state("node1", "node2", {"fenced"})
        time.sleep(3)  # longer than node1's fence delay: node2 never got to shoot
        assert cell.power("node2") == "off"
        assert cell.power("node1") == "on"
        assert not any(e["kind"] == "fence_done" for e in cell.events_file("node2"))


def test_node_without_bmc_access_loses_the_race(tmp_path: Path) -> None:
    with running_cell(tmp_path, "nobmc", fencing=True, bmc_net=True) as cell:
        cell.faults.cut("node1", "bmc")
        cell.cut_rings("node1")
        cell.wait_state("node2", "node1", {"fenced"}, timeout=30)
        assert cell.power("node1") == "off"
        assert cell.power("node2") == "on"
        # node1 tried first (no delay against node2) but could not reach any BMC.
        assert fence_starts(cell.events_file("node1")) == ["node2"]
        assert not any(e["kind"] == "fence_done" for e in cell.events_file("node1"))


def test_bmc_network_down_for_both_fences_nobody(tmp_path: Path) -> None:
    with running_cell(tmp_path, "bmcdown", fencing=True, bmc_net=True) as cell:
        cell.faults.cut("node1", "bmc")
        cell.faults.cut("node2", "bmc")
        cell.cut_rings("node1")
        wait_for(lambda: any(e["kind"] == "fence_failed" for e in cell.events_file("node2")),
                 30, "node2's fencing of node1 to fail")
        wait_for(lambda: any(e["kind"] == "fence_failed" for e in cell.events_file("node1")),
                 30, "node1's fencing of node2 to fail")
        assert cell.power("node1") == "on" and cell.power("node2") == "on"
        assert cell.state_of("node1", "node2") in {"unclean", "fencing"}
        assert cell.state_of("node2", "node1") in {"unclean", "fencing"}


def test_rebooted_node_rejoins_without_fencing(tmp_path: Path) -> None:
    with running_cell(tmp_path, "reboot", fencing=True) as cell:
        cell.control.crash("node2")
        cell.wait_state("node1", "node2", {"fenced"})
        before = len(fence_starts(node_events(cell.control, "node1")))
        bmc = cell.control.config.node("node2").bmc
        assert bmc is not None
        on = subprocess.run(cell.control.exec_argv("client", [
            "ipmitool", "-I", "lanplus", "-H", bmc.address, "-U", "admin", "-P",
            "lab-pass-2", "chassis", "power", "on"]), capture_output=True, text=True,
            timeout=30)
        assert on.returncode == 0, on.stderr
        cell.wait_state("node1", "node2", {"online"})
        wait_for(lambda: (s := cell.status("node2")) and s["quorate"], 20,
                 "node2 to be quorate after seeing node1")
        time.sleep(1.0)
        assert len(fence_starts(node_events(cell.control, "node1"))) == before
        assert fence_starts(node_events(cell.control, "node2")) == []
        assert cell.power("node1") == "on"


def test_operator_fence_and_history(tmp_path: Path) -> None:
    from labkit import tandem_in

    with running_cell(tmp_path, "opfence", fencing=True) as cell:
        done = tandem_in(cell.control, "node1", "fence", "node2", "--json")
        assert done.returncode == 0, done.stderr
        assert cell.power("node2") == "off"
        history = tandem_in(cell.control, "node1", "fence", "history", "--json")
        assert '"outcome": "ok"' in history.stdout
        refused = tandem_in(cell.control, "node1", "fence", "node1")
        assert refused.returncode == 1 and "refusing" in refused.stderr
        unknown = tandem_in(cell.control, "node1", "fence", "nodeX")
        assert unknown.returncode == 1 and "unknown node" in unknown.stderr


def test_clean_stop_is_not_fenced_and_reload(tmp_path: Path) -> None:
    import os
    import signal

    from tandem.lab.names import LabNames

    with running_cell(tmp_path, "stop", fencing=True) as cell:
        daemon = cell.control.power("node2").daemon_pid
        # node2 keeps an IPMI session open to node1's BMC, and closes it when it stops
        wait_for(lambda: ipmitool_shells(cell, "node2"), 10, "node2's kept IPMI session")
        os.kill(daemon, signal.SIGTERM)
        cell.wait_state("node1", "node2", {"offline"})
        wait_for(lambda: not ipmitool_shells(cell, "node2"), 5,
                 "node2's ipmitool shell to end with its daemon")
        time.sleep(1.5)
        assert cell.state_of("node1", "node2") == "offline"
        assert fence_starts(node_events(cell.control, "node1")) == []
        assert cell.power("node2") == "on"
        assert any(e["kind"] == "daemon_stop" for e in cell.events_file("node2"))
        cell.control.start_daemon("node2")
        cell.wait_state("node1", "node2", {"online"})
        # SIGHUP: a new version of the same cell is adopted, a broken file is refused.
        path = LabNames(cell.record.name).node_root("node1") / "etc/tandem/cluster.toml"
        text = path.read_text()
        path.write_text(text.replace('key_file = "/etc/tandem/cluster.key"',
                                     'key_file = "/etc/tandem/cluster.key"\n'
                                     'config_version = 2'))
        node1 = cell.control.power("node1").daemon_pid
        os.kill(node1, signal.SIGHUP)
        wait_for(lambda: (s := cell.status("node1")) and s["config_version"] == 2, 10,
                 "node1 to load version 2")
        path.write_text("this is [not toml")
        os.kill(node1, signal.SIGHUP)
        time.sleep(0.5)
        status = cell.status("node1")
        assert status is not None and status["config_version"] == 2
        assert cell.state_of("node1", "node2") == "online"
        path.write_text(text)


def test_fence_device_that_stops_answering_shows_failed(tmp_path: Path) -> None:
    with running_cell(tmp_path, "devchk", fencing=True) as cell:
        def device_state() -> str | None:
            status = cell.status("node1")
            devices = status["fence_devices"] if status else []
            return devices[0]["state"] if devices else None

        wait_for(lambda: device_state() == "ok", 15, "node1 to check node2's BMC")
        cell.faults.cut("node2", None, bmc=True)
        wait_for(lambda: device_state() == "failed", 20, "the check to notice the dead BMC")
        assert any(e["kind"] == "fence_device_failed" for e in node_events(cell.control,
                                                                           "node1"))
        assert cell.state_of("node1", "node2") == "online"  # a check never fences
        cell.faults.heal("node2", None, bmc=True)
        wait_for(lambda: device_state() == "ok", 20, "the device to be back")


def test_a_node_that_resumes_from_a_hang_does_not_shoot_the_healthy_peer(
        tmp_path: Path) -> None:
    """node2 freezes past the token and resumes. node1 rightly fences it; node2, waking up
    with stale timestamps, must not take node1 for lost and shoot it first."""
    slow = {1: 'fence = [ { devices = ["bmc"] } ]',
            2: 'fence = [ { devices = ["bmc"], delay_ms = 2000 } ]'}
    with running_cell(tmp_path, "resume", fencing=True, node_extra=slow) as cell:
        for _ in range(3):
            cell.control.hang("node2")
            time.sleep(1.5)  # well past the 600 ms token: node1 waits 2 s, then fences node2
            cell.control.resume("node2")
            cell.wait_state("node1", "node2", {"fenced"})
            assert cell.power("node1") == "on", "the healthy node was fenced"
            assert fence_starts(cell.events_file("node2")) == []
            cell.control.power_on("node2")
            cell.wait_state("node1", "node2", {"online"})


def test_a_hung_engine_is_a_failed_node_though_its_heartbeat_process_lives(
        tmp_path: Path) -> None:
    """Only node2's engine freezes (its heartbeat process, at real-time priority, is
    fine): the heartbeats stop once the engine has not fed them for the engine timeout
    (5 s here), node1 finds node2 silent and fences it. A heartbeat process that went on
    beating for a dead engine would hide the failure for ever."""
    with running_cell(tmp_path, "enghang", fencing=True) as cell:
        engine = cell.control.power("node2").daemon_pid
        assert engine
        started = time.monotonic()
        os.kill(engine, signal.SIGSTOP)
        try:
            cell.wait_state("node1", "node2", {"fenced"}, timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(engine, signal.SIGCONT)
        waited = time.monotonic() - started
        assert waited >= 5.0, f"node2 was taken for failed after {waited:.1f} s only"
        assert cell.power("node1") == "on"
        log = cell.control.names.node_root("node2") / "var/log/tandem/tandemd.log"
        assert "heartbeats stop" in log.read_text(errors="replace")
