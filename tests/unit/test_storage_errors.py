"""Back-end storage errors on a node: which devices a service stands on (through a fake
sysfs tree laid out as the kernel lays it out), which local services an error concerns,
and that those fail marked as the storage's failure (so the decision relocates them).
The kernel-log watch is fed real /dev/kmsg records: one written to the kernel's log by
this test (as root) and read back by the watch."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from cellsim import cell_text

from tandem.common.events import EventKind
from tandem.config.model import (
    ClusterConfig,
    DomainDef,
    NetworkDef,
    NodeDef,
    ResourceDef,
    ServiceDef,
)
from tandem.daemon.events import EventLog
from tandem.daemon.services import storage as storage_mod
from tandem.daemon.services.executor import Agents, LocalServices
from tandem.manager.actions import Start
from tandem.manager.model import LocalState
from tandem.resources.dummy import DummyAgent
from tandem.storage.kmsgwatch import KernelLogWatch
from tandem.system import blockdev
from tandem.system.kernlog import IoError

# -- which devices: sysfs --------------------------------------------------------------------


def fake_sysfs(root: Path) -> tuple[Path, Path]:
    """sdb (8:16) with partition sdb1 (8:17); dm-0 (253:0) over sdb1; loop5 (7:5)."""
    devices = root / "devices"
    sdb = devices / "pci0" / "block" / "sdb"
    sdb1 = sdb / "sdb1"
    dm0 = devices / "virtual" / "block" / "dm-0"
    loop5 = devices / "virtual" / "block" / "loop5"
    for path, number in ((sdb, "8:16"), (sdb1, "8:17"), (dm0, "253:0"), (loop5, "7:5")):
        path.mkdir(parents=True)
        (path / "dev").write_text(number + "\n")
        (path / "slaves").mkdir()
    (sdb1 / "partition").write_text("1\n")
    (dm0 / "slaves" / "sdb1").symlink_to(sdb1)
    sys_dev, sys_class = root / "dev" / "block", root / "class" / "block"
    sys_dev.mkdir(parents=True)
    sys_class.mkdir(parents=True)
    for path in (sdb, sdb1, dm0, loop5):
        (sys_dev / (path / "dev").read_text().strip()).symlink_to(path)
        (sys_class / path.name).symlink_to(path)
    return sys_dev, sys_class


def test_the_stack_below_a_device_holds_its_partition_disk_and_slaves(tmp_path: Path) -> None:
    sys_dev, sys_class = fake_sysfs(tmp_path)
    assert blockdev.stack_below((253, 0), sys_dev) == {(253, 0), (8, 17), (8, 16)}
    assert blockdev.stack_below((8, 17), sys_dev) == {(8, 17), (8, 16)}
    assert blockdev.stack_below((7, 5), sys_dev) == {(7, 5)}
    assert blockdev.stack_below((9, 9), sys_dev) == {(9, 9)}  # unknown: itself only
    assert blockdev.resolve_device("dm-0", sys_class) == (253, 0)
    assert blockdev.resolve_device("8:16", sys_class) == (8, 16)
    for bad in ("nosuch", "../x", "8:x", "/dev/null", "/nonexistent"):
        assert blockdev.resolve_device(bad, sys_class) is None, bad


# -- which services: the executor ------------------------------------------------------------

DISK = "/dev/tandem/ost0"


class DiskAgent(DummyAgent):
    """A dummy resource that says it stands on DISK."""

    def devices(self) -> tuple[str, ...]:
        return (DISK,)


def cell(tmp: Path) -> tuple[ClusterConfig, list[ServiceDef]]:
    domain = DomainDef(nodes=(("n1", 1), ("n2", 2)))
    services = [ServiceDef(name=name, resources=(ResourceDef(f"{name}-r", "dummy",
                                                             {"state_dir": str(tmp)}),),
                           domain=domain) for name in ("ost", "other")]
    config = ClusterConfig(name="c", key_file="/k", networks=(NetworkDef("a", 0),),
                           nodes=(NodeDef("n1", 1), NodeDef("n2", 2)),
                           services=tuple(services))
    return config, services


def agents(svc: ServiceDef) -> Agents:
    res = svc.resources[0]
    kind = DiskAgent if svc.name == "ost" else DummyAgent
    return [(res, kind.create(res.name, dict(res.params)))]


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DISK is dm-0 of the fake sysfs (over sdb1 of sdb)."""
    sys_dev, _ = fake_sysfs(tmp_path / "sys")
    monkeypatch.setattr(storage_mod, "device_number",
                        lambda path: (253, 0) if path == DISK else None)
    monkeypatch.setattr(storage_mod, "stack_below",
                        lambda number: blockdev.stack_below(number, sys_dev))
    state = tmp_path / "state"
    state.mkdir()
    return state


async def started(tmp: Path) -> tuple[LocalServices, EventLog]:
    config, _ = cell(tmp)
    events = EventLog()
    local = LocalServices(config, "n1", events, lambda: None, agents=agents)
    for name in ("ost", "other"):
        local.carry_out(Start(name, 1))
        task = local.services[name].task
        assert task is not None
        await task
        assert local.services[name].report.state == LocalState.STARTED
    return local, events


async def settle(local: LocalServices, name: str) -> None:
    task = local.services[name].task
    if task is not None:
        await task


def test_an_error_under_a_service_fails_it_for_relocation(sysfs: Path) -> None:
    async def scenario() -> None:
        local, events = await started(sysfs)
        assert local.storage_error((7, 5), "loop5") == []  # not ours: no action
        assert local.services["ost"].report.state == LocalState.STARTED
        assert local.storage_error((8, 16), "kernel: I/O error, dev sdb") == ["ost"]
        await settle(local, "ost")
        ost = local.services["ost"].report
        assert ost.state == LocalState.FAILED and ost.cause == "storage"
        assert "storage error" in ost.error
        assert local.services["other"].report.state == LocalState.STARTED
        kinds = [e.kind for _, e in events.since(0)]
        assert EventKind.STORAGE_ERROR in kinds
        assert (local.storage.reported, local.storage.relevant) == (2, 1)
        # the service's own failure, with no storage error behind it, is not marked
        local.storage.forget("ost")
        local.carry_out(Start("ost", 2))
        await settle(local, "ost")
        await local._fail(local.services["ost"], "monitor failed")
        assert local.services["ost"].report.cause == ""

    asyncio.run(scenario())


def test_a_frozen_or_stopped_service_is_not_touched(sysfs: Path) -> None:
    async def scenario() -> None:
        local, events = await started(sysfs)
        local.frozen = frozenset({"ost"})
        assert local.storage_error((253, 0), "dm-0") == ["ost"]
        assert local.services["ost"].task is None or local.services["ost"].task.done()
        assert local.services["ost"].report.state == LocalState.STARTED
        assert any("frozen" in e.detail for _, e in events.since(0))
        local.frozen = frozenset()
        await local.stop_all("test over")
        assert local.storage_error((253, 0), "dm-0") == []  # nothing runs here

    asyncio.run(scenario())


# -- the kernel's log ---------------------------------------------------------------------


def test_the_watch_hands_on_io_errors_and_counts_the_rest() -> None:
    seen: list[IoError] = []
    watch = KernelLogWatch(seen.append, path="/nonexistent")
    watch.feed(b"6,1,1,-;EXT4-fs (loop3): mounted filesystem\n")
    watch.feed(b"3,2,2,-;Buffer I/O error on dev loop3, logical block 0, lost sync page\n")
    watch.feed(b"garbage")
    assert [e.device for e in seen] == ["loop3"]
    c = watch.counters
    assert (c.records, c.io_errors, c.malformed) == (2, 1, 1)
    asyncio.run(watch.run())  # a log that cannot be opened: the watch ends, logged


@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/dev/kmsg", os.W_OK),
                    reason="writing to the kernel's log needs root")
def test_the_watch_reads_the_real_kernel_log_from_its_end() -> None:
    """A record written to /dev/kmsg after the watch opened it reaches the callback;
    the device name is one no machine has, so no daemon acts on it."""
    seen: list[IoError] = []

    async def scenario() -> None:
        watch = KernelLogWatch(seen.append)
        task = asyncio.create_task(watch.run())
        for _ in range(100):
            if watch.running:
                break
            await asyncio.sleep(0.01)
        fd = os.open("/dev/kmsg", os.O_WRONLY)
        try:
            os.write(fd, b"<4>tandem unit test: Buffer I/O error on dev tandemtest0, "
                         b"logical block 0 (not a real device)\n")
        finally:
            os.close(fd)
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [e.device for e in seen] == ["tandemtest0"]


# -- the [storage] section ------------------------------------------------------------------


def test_the_storage_section_turns_the_kernel_watch_off_and_names_bad_keys() -> None:
    from tandem.config import ConfigError, parse_config
    from tandem.config.writer import config_text
    from tandem.storage.config import watch_kernel_log

    base = cell_text()
    assert watch_kernel_log(parse_config(base, "c.toml"))
    off = parse_config(base + "[storage]\nwatch_kernel_log = false\n", "c.toml")
    assert not watch_kernel_log(off)
    assert not watch_kernel_log(parse_config(config_text(off), "again.toml"))
    with pytest.raises(ConfigError, match="storage"):
        parse_config(base + "[storage]\nwatch_kernel = false\n", "c.toml")
    with pytest.raises(ConfigError, match="watch_kernel_log"):
        parse_config(base + "[storage]\nwatch_kernel_log = 3\n", "c.toml")
