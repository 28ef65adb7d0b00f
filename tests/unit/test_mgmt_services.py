"""haservices and the test doubles (hafake, hadown), and the command-line boundary:
`tandem ha NAME ACTION` and the stand-alone commands, their messages and exit codes
(0 OK, 1 failed, 2 bad usage or data), run as real processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mgmtkit import write
from tandem.cli.main import main as tandem_main
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import CheckFailed, DataError, UsageProblem
from tandem.hpc.mgmt.hacron import Hacron
from tandem.hpc.mgmt.hadown import Hadown
from tandem.hpc.mgmt.hafake import Hafake
from tandem.hpc.mgmt.haservices import Haservices
from tandem.hpc.mgmt.tools import TOOLS, get_tool
from tandem.resources.base import OcfCode, ResourceAgent
from tandem.resources.registry import get_agent

STEP = """#!/bin/sh
echo "{name} $1" >> "{log}"
exit {status}
"""


def steps(ctx: MgmtContext, **statuses: int) -> Path:
    """Executable steps /etc/init.d/NAME that log their call and exit with a status."""
    log = ctx.sysroot / "calls.log"
    for name, status in statuses.items():
        write(ctx.host(f"/etc/init.d/{name}"), STEP.format(name=name, log=log, status=status),
              0o755)
    return log


def test_haservices_runs_each_list_in_order(ctx: MgmtContext) -> None:
    log = steps(ctx, postgresql=0, httpd=0, nfs=0)
    write(ctx.data("start"), "# in order\n/etc/init.d/postgresql\n\n/etc/init.d/httpd\n"
                             "/etc/init.d/nfs\n")
    write(ctx.data("stop"), "/etc/init.d/nfs\n/etc/init.d/httpd\n/etc/init.d/postgresql\n")
    write(ctx.data("status"), "# empty: nothing is monitored yet\n")
    assert Haservices(ctx).run("start") == "OK (3 commands)"
    assert Haservices(ctx).run("stop") == "OK (3 commands)"
    assert Haservices(ctx).run("status") == "OK (nothing to run)"
    assert log.read_text().splitlines() == [
        "postgresql start", "httpd start", "nfs start", "nfs stop", "httpd stop",
        "postgresql stop"]


def test_haservices_stops_at_the_first_error_and_names_it(ctx: MgmtContext) -> None:
    log = steps(ctx, postgresql=0, httpd=3, nfs=0)
    path = write(ctx.data("start"), "/etc/init.d/postgresql\n/etc/init.d/httpd\n"
                                    "/etc/init.d/nfs\n")
    with pytest.raises(CheckFailed, match=rf"^{path}:2: `/etc/init.d/httpd start` failed "
                                          r"\(exit 3\)"):
        Haservices(ctx).run("start")
    assert log.read_text().splitlines() == ["postgresql start", "httpd start"]
    write(path, "/etc/init.d/postgresql\n/etc/init.d/missing\n")
    with pytest.raises(CheckFailed, match=rf"^{path}:2: `.*/etc/init.d/missing start`: "
                                          r"cannot run"):
        Haservices(ctx).run("start")
    write(path, "/etc/init.d/postgresql -D /data\n")
    with pytest.raises(DataError, match=rf"^{path}:1: expected one absolute path"):
        Haservices(ctx).run("start")
    with pytest.raises(DataError, match="etc/HA/stop: data file is missing"):
        Haservices(ctx).run("stop")


def test_hafake_and_hadown(ctx: MgmtContext) -> None:
    fake = Hafake(ctx)
    with pytest.raises(CheckFailed, match="not running"):
        fake.run("status")
    fake.run("start")
    assert fake.run("status") == "OK (running)"
    fake.run("stop")
    with pytest.raises(CheckFailed):
        fake.run("status")
    for action in Hadown.actions:
        with pytest.raises(CheckFailed, match=f"{action}: always fails"):
            Hadown(ctx).run(action)


def test_unknown_actions_and_tools() -> None:
    ctx = MgmtContext()
    with pytest.raises(UsageProblem, match=r"halinks: unknown action 'frobnicate' \(expected "
                                           r"one of: start, status, repair, undo\)"):
        get_tool("halinks")(ctx).run("frobnicate")
    with pytest.raises(UsageProblem, match="no action given"):
        get_tool("hamount")(ctx).run(None)
    with pytest.raises(KeyError, match="unknown tool 'hafoo'"):
        get_tool("hafoo")
    assert {"haservices", "haip", "hamount", "halinks", "hapidcleaner", "hasynchro", "hacron",
            "haunwantedfiles", "harpms", "hatstfs", "haadminnodes", "hafake",
            "hadown", "hasyslog", "haupdatedb"} == set(TOOLS)


# -- command line --------------------------------------------------------------------------
@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """Settings for the stand-alone commands, and for the commands haservices starts."""
    return {**os.environ, "TANDEM_HA_ROOT": str(tmp_path / "HA"),
            "TANDEM_HA_RUN_DIR": str(tmp_path / "run")}


def command(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = shutil.which(name)
    assert path, f"{name} is not installed (pip install -e .)"
    return subprocess.run([path, *args], capture_output=True, text=True, env=env, timeout=60)


def test_standalone_commands_and_exit_codes(tmp_path: Path, env: dict[str, str]) -> None:
    ha = tmp_path / "HA"
    hafake, hadown = shutil.which("hafake"), shutil.which("hadown")
    write(ha / "start", f"# the fake service\n{hafake}\n")
    write(ha / "status", f"{hafake}\n")
    write(ha / "stop", f"{hafake}\n{hadown}\n")
    done = command("haservices", "start", env=env)
    assert (done.returncode, done.stdout.splitlines()) == (
        0, [f"{hafake} start: OK", "haservices start: OK (1 command)"])
    assert (tmp_path / "run/hafake.running").exists()
    assert command("haservices", "status", env=env).returncode == 0
    done = command("haservices", "stop", env=env)
    assert done.returncode == 1
    assert done.stderr == (f"haservices: error: {ha}/stop:2: `{hadown} stop` failed (exit 1): "
                           f"hadown: error: stop: always fails (test double)\n")
    done = command("haservices", "status", env=env)
    assert done.returncode == 1 and f"{ha}/status:1: `{hafake} status` failed" in done.stderr
    write(ha / "status", "not/absolute\n")
    done = command("haservices", "status", env=env)
    assert (done.returncode, done.stderr) == (
        2, f"haservices: error: {ha}/status:1: expected an absolute path, got "
           f"'not/absolute'\n")
    done = command("halinks", "sideways", env=env)
    assert done.returncode == 2 and "invalid choice: 'sideways'" in done.stderr


def test_tandem_ha_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "HA"
    write(root / "adminnodes", "ns0\nns13\n")
    assert tandem_main(["ha", "haadminnodes", "--root", str(root)]) == 0
    assert capsys.readouterr().out == "ns0\nns13\n"
    write(root / "links", "/nonexistent-tandem-test\n")
    assert tandem_main(["ha", "halinks", "status", "--root", str(root),
                        "--sysroot", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"halinks: error: {root}/links:1: "
                                       f"/nonexistent-tandem-test is not a symbolic link "
                                       f"(`halinks repair` makes it one)\n")
    assert tandem_main(["ha", "hacron", "start", "--root", str(root), "-q"]) == 2
    assert "cron: data file is missing" in capsys.readouterr().err


# -- the HA_NSM resource at boot -------------------------------------------------------------
def _agent(ctx: MgmtContext, state_dir: Path) -> ResourceAgent:
    return get_agent("haservices").create("HA_NSM-services", {
        "root": str(ctx.root), "state_dir": str(state_dir),
        "env": {"TANDEM_HA_SYSROOT": str(ctx.sysroot)}})


def test_the_first_look_after_boot_puts_the_crons_to_sleep(ctx: MgmtContext) -> None:
    """A node that crashed while HA_NSM ran here boots with the crons active: the probe
    at tandemd start (a status that finds nothing started here) puts them to sleep, once
    per boot (the mark lives in /run, cleared at boot); an operator's later `hacron
    start` is left alone until the next boot."""
    write(ctx.host("/etc/cron.d/backup-db"), "0 2 * * * root /usr/bin/backup\n")
    write(ctx.data("cron"), "backup-db\n")
    cron, run = ctx.host("/etc/cron.d"), ctx.sysroot / "run/tandem/haservices"
    agent = _agent(ctx, run)
    assert asyncio.run(agent.status()).code == OcfCode.NOT_RUNNING
    assert sorted(p.name for p in cron.iterdir()) == ["SLEEP"]
    Hacron(ctx).run("start")
    assert asyncio.run(agent.status()).code == OcfCode.NOT_RUNNING
    assert (cron / "backup-db").is_file()  # same boot: not touched again
    shutil.rmtree(run)  # a reboot clears /run
    asyncio.run(_agent(ctx, run).status())
    assert not (cron / "backup-db").exists() and (cron / "SLEEP/backup-db").is_file()


def test_crons_stay_active_where_ha_nsm_runs_and_a_failure_is_retried(
        ctx: MgmtContext, caplog: pytest.LogCaptureFixture) -> None:
    write(ctx.host("/etc/cron.d/backup-db"), "active\n")
    write(ctx.host("/etc/cron.d/SLEEP/backup-db"), "old copy\n")
    write(ctx.data("cron"), "backup-db\n")
    write(ctx.data("status"), "")
    run = ctx.sysroot / "run/tandem/haservices"
    agent = _agent(ctx, run)
    assert asyncio.run(agent.status()).code == OcfCode.NOT_RUNNING  # not this resource's fault
    assert "crons of" in caplog.text and "backup-db is in both" in caplog.text
    assert not list(run.glob(".*"))  # no mark: the next look tries again
    (ctx.host("/etc/cron.d/SLEEP/backup-db")).unlink()
    write(run / "HA_NSM-services", "started\n")  # HA_NSM runs here (daemon restart)
    assert asyncio.run(agent.status()).ok
    assert (ctx.host("/etc/cron.d/backup-db")).read_text() == "active\n"
