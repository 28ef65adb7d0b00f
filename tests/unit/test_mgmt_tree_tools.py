"""The toolkit commands that rearrange a node's own tree: halinks, hacron,
haunwantedfiles, hapidcleaner. Each runs on a private temp tree (the context's
sysroot); repairs are idempotent and undo restores the tree exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from mgmtkit import write
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import CheckFailed, DataError
from tandem.hpc.mgmt.hacron import Hacron
from tandem.hpc.mgmt.halinks import Halinks, saved_copies, shared_path
from tandem.hpc.mgmt.hapidcleaner import Hapidcleaner
from tandem.hpc.mgmt.haunwantedfiles import Haunwantedfiles

Snapshot = dict[str, tuple[object, ...]]
FIXED_NOW = datetime(2026, 11, 25, 10, 30, 0)


def snapshot(top: Path) -> Snapshot:
    """Every entry under `top`: kind, mode and content or link target."""
    found: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(top))
            st = path.lstat()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir", st.st_mode, st.st_ino)
            else:
                found[rel] = ("file", st.st_mode, st.st_ino, path.read_bytes())
    return found


@pytest.fixture()
def ctx(tmp_path: Path, lines: list[str]) -> MgmtContext:
    return MgmtContext.under(tmp_path, node="ns0", out=lines.append, now=lambda: FIXED_NOW,
                             shared_must_be_mounted=False)


# -- halinks -----------------------------------------------------------------------------
@pytest.fixture()
def linked_tree(ctx: MgmtContext) -> Path:
    """/var/lib/pgsql and /etc/httpd with content, /varha and /etcha available."""
    write(ctx.host("/var/lib/pgsql/data/PG_VERSION"), "15\n", 0o600)
    ctx.host("/var/lib/pgsql/data").chmod(0o700)
    os.symlink("data/PG_VERSION", ctx.host("/var/lib/pgsql/current"))
    write(ctx.host("/etc/httpd/conf/httpd.conf"), "Listen 80\n")
    ctx.host("/varha").mkdir()
    ctx.host("/etcha").mkdir()
    return write(ctx.data("links"), "# shared directories\n\n/var/lib/pgsql\n/etc/httpd\n")


def test_shared_path_appends_ha_to_the_first_component() -> None:
    assert shared_path("/var/lib/pgsql") == "/varha/lib/pgsql"
    assert shared_path("/etc/httpd") == "/etcha/httpd"
    assert shared_path("/usr/share/lsf") == "/usrha/share/lsf"
    assert shared_path("/tftpboot") == "/tftpbootha"


def test_halinks_status_fails_until_repaired(ctx: MgmtContext, linked_tree: Path) -> None:
    with pytest.raises(CheckFailed, match=rf"^{linked_tree}:3: /var/lib/pgsql is not a "
                                          r"symbolic link"):
        Halinks(ctx).run("status")
    Halinks(ctx).run("repair")
    assert Halinks(ctx).run("status") == "OK"
    assert Halinks(ctx).run("start") == "OK"


def test_halinks_repair_seeds_links_and_keeps_the_original(ctx: MgmtContext,
                                                           linked_tree: Path,
                                                           lines: list[str]) -> None:
    before = snapshot(ctx.host("/var/lib/pgsql"))
    assert Halinks(ctx).run("repair") == "OK (2 directories linked)"
    local, shared = ctx.host("/var/lib/pgsql"), ctx.host("/varha/lib/pgsql")
    assert os.readlink(local) == str(shared)
    kept = ctx.host("/var/lib/pgsql.orig-20261125-103000")
    assert snapshot(kept) == before  # the very same directory, renamed
    seeded = snapshot(shared)
    assert {k: v[0] for k, v in seeded.items()} == {k: v[0] for k, v in before.items()}
    assert (shared / "data/PG_VERSION").read_text() == "15\n"
    assert (shared / "data").stat().st_mode & 0o777 == 0o700
    assert os.readlink(shared / "current") == "data/PG_VERSION"
    assert any("seeded /varha/lib/pgsql" in line for line in lines)
    # A second repair has nothing to do and says only OK.
    lines.clear()
    tree = snapshot(ctx.sysroot)
    assert Halinks(ctx).run("repair") == "OK"
    assert lines == [] and snapshot(ctx.sysroot) == tree


def test_halinks_never_overwrites_an_existing_shared_copy(ctx: MgmtContext,
                                                          linked_tree: Path) -> None:
    write(ctx.host("/etcha/httpd/conf/httpd.conf"), "Listen 8080\n")
    Halinks(ctx).run("repair")
    assert (ctx.host("/etc/httpd") / "conf/httpd.conf").read_text() == "Listen 8080\n"


def test_halinks_undo_restores_the_tree_exactly(ctx: MgmtContext, linked_tree: Path) -> None:
    before = snapshot(ctx.host("/var")), snapshot(ctx.host("/etc/httpd"))
    Halinks(ctx).run("repair")
    assert Halinks(ctx).run("undo") == "OK (2 directories restored)"
    assert (snapshot(ctx.host("/var")), snapshot(ctx.host("/etc/httpd"))) == before
    assert Halinks(ctx).run("undo") == "OK"  # nothing left to undo
    assert ctx.host("/varha/lib/pgsql/data/PG_VERSION").exists()  # shared data is kept


def test_halinks_undo_takes_the_newest_saved_directory(ctx: MgmtContext,
                                                       linked_tree: Path) -> None:
    old = ctx.host("/var/lib/pgsql.orig-20200101-000000")
    write(old / "marker", "old\n")
    same_second = ctx.host("/var/lib/pgsql.orig-20261125-103000")
    write(same_second / "marker", "earlier today\n")
    Halinks(ctx).run("repair")
    newest = ctx.host("/var/lib/pgsql.orig-20261125-103000-2")
    assert saved_copies(ctx.host("/var/lib/pgsql")) == [old, same_second, newest]
    Halinks(ctx).run("undo")
    assert ctx.host("/var/lib/pgsql/data/PG_VERSION").read_text() == "15\n"
    assert old.exists() and same_second.exists() and not newest.exists()


def test_halinks_without_mounted_shared_storage_links_but_does_not_seed(
        tmp_path: Path, linked_tree: Path, lines: list[str]) -> None:
    strict = MgmtContext.under(tmp_path, out=lines.append)  # /varha is no mount point
    Halinks(strict).run("repair")
    assert strict.host("/var/lib/pgsql").is_symlink()
    assert not strict.host("/varha/lib/pgsql").exists()
    assert any("/varha is not mounted: not seeded" in line for line in lines)


@pytest.mark.parametrize(("setup", "problem"), [
    ("file", "/etc/httpd is not a directory"),
    ("missing", "/etc/httpd does not exist"),
    ("shared-file", "shared copy /etcha/httpd exists and is not a directory"),
])
def test_halinks_bad_input_changes_nothing(ctx: MgmtContext, linked_tree: Path, setup: str,
                                           problem: str) -> None:
    httpd = ctx.host("/etc/httpd")
    if setup in ("file", "missing"):
        write(httpd / "conf/httpd.conf", "").unlink()
        (httpd / "conf").rmdir()
        httpd.rmdir()
        if setup == "file":
            write(httpd, "not a directory\n")
    else:
        write(ctx.host("/etcha/httpd"), "a file\n")
    before = snapshot(ctx.sysroot)
    with pytest.raises(CheckFailed, match=rf"^{linked_tree}:4: {problem}"):
        Halinks(ctx).run("repair")
    assert snapshot(ctx.sysroot) == before  # line 3 was fine, but nothing moved


def test_halinks_undo_refuses_a_link_without_saved_directory(ctx: MgmtContext,
                                                             linked_tree: Path) -> None:
    ctx.host("/etc/httpd").rename(ctx.host("/etcha/httpd"))
    os.symlink(ctx.host("/etcha/httpd"), ctx.host("/etc/httpd"))
    with pytest.raises(CheckFailed, match=rf"{linked_tree}:4: no httpd.orig-<date>"):
        Halinks(ctx).run("undo")
    assert ctx.host("/etc/httpd").is_symlink()


def test_halinks_bad_line(ctx: MgmtContext) -> None:
    path = write(ctx.data("links"), "/var/www\nrelative/dir\n")
    with pytest.raises(DataError, match=rf"^{path}:2: expected an absolute path"):
        Halinks(ctx).run("repair")


# -- hacron ------------------------------------------------------------------------------
@pytest.fixture()
def crontab(ctx: MgmtContext) -> Path:
    write(ctx.host("/etc/cron.d/backup-db"), "0 2 * * * root /usr/bin/backup\n")
    write(ctx.host("/etc/cron.d/rotate"), "0 3 * * * root /usr/sbin/rotate\n")
    write(ctx.host("/etc/cron.d/local"), "* * * * * root true\n")
    return write(ctx.data("cron"), "# crons of the active node\nbackup-db\n\nrotate\n")


def test_hacron_stop_sleeps_and_start_wakes(ctx: MgmtContext, crontab: Path) -> None:
    assert Hacron(ctx).run("status") == "OK"
    assert Hacron(ctx).run("stop") == "OK (2 cron files put to sleep)"
    cron = ctx.host("/etc/cron.d")
    assert sorted(p.name for p in cron.iterdir()) == ["SLEEP", "local"]
    assert sorted(p.name for p in (cron / "SLEEP").iterdir()) == ["backup-db", "rotate"]
    with pytest.raises(CheckFailed, match=rf"^{crontab}:2: .*backup-db is not active "
                                          r"\(sleeping\)"):
        Hacron(ctx).run("status")
    assert Hacron(ctx).run("stop") == "OK"
    asleep = snapshot(cron)
    assert Hacron(ctx).run("start") == "OK (2 cron files activated)"
    assert Hacron(ctx).run("start") == "OK"
    assert Hacron(ctx).run("status") == "OK"
    assert (cron / "rotate").read_text() == "0 3 * * * root /usr/sbin/rotate\n"
    Hacron(ctx).run("stop")
    assert snapshot(cron) == asleep


def test_hacron_boot_puts_the_crons_to_sleep_and_needs_no_list(ctx: MgmtContext,
                                                                 crontab: Path) -> None:
    cron = ctx.host("/etc/cron.d")
    assert Hacron(ctx).run("boot") == "OK (2 cron files put to sleep)"
    assert sorted(p.name for p in cron.iterdir()) == ["SLEEP", "local"]
    assert Hacron(ctx).run("boot") == "OK"
    crontab.unlink()
    assert Hacron(ctx).run("boot") == f"OK (no {crontab}: no cron to put to sleep)"
    with pytest.raises(DataError, match="cron: data file is missing"):
        Hacron(ctx).run("stop")  # stop still insists on its list


def test_hacron_refuses_conflicts_and_unknown_files(ctx: MgmtContext, crontab: Path) -> None:
    write(ctx.host("/etc/cron.d/SLEEP/rotate"), "old copy\n")
    before = snapshot(ctx.sysroot)
    with pytest.raises(CheckFailed, match=rf"^{crontab}:4: rotate is in both"):
        Hacron(ctx).run("stop")
    assert snapshot(ctx.sysroot) == before
    write(crontab, "nosuchjob\n")
    with pytest.raises(CheckFailed, match=rf"^{crontab}:1: nosuchjob is in neither"):
        Hacron(ctx).run("start")
    write(crontab, "sub/dir\n")
    with pytest.raises(DataError, match=rf"^{crontab}:1: expected a file name"):
        Hacron(ctx).run("start")


# -- haunwantedfiles -----------------------------------------------------------------------
INIT_SCRIPT = """#!/bin/sh
echo "$0 $1" >> "{log}"
[ "$1" != stop ] || exit {stop_status}
"""


@pytest.fixture()
def boot_tree(ctx: MgmtContext) -> Path:
    """httpd (SysV links) and ldap (systemd link) are managed; network is not."""
    log = ctx.sysroot / "calls.log"
    for service, status in (("httpd", 0), ("ldap", 1), ("network", 0)):
        write(ctx.host(f"/etc/init.d/{service}"),
              INIT_SCRIPT.format(log=log, stop_status=status), 0o755)
    write(ctx.data("start"), "/etc/HA/bin/hamount\n/etc/init.d/httpd\n/etc/init.d/ldap\n")
    write(ctx.data("stop"), "/etc/init.d/ldap\n/etc/init.d/httpd\n")
    write(ctx.data("status"), "# nothing to monitor yet\n")
    for level in ("rc3.d", "rc5.d"):
        ctx.host(f"/etc/{level}").mkdir(parents=True)
        os.symlink("../init.d/httpd", ctx.host(f"/etc/{level}/S85httpd"))
    os.symlink("../init.d/httpd", ctx.host("/etc/rc3.d/K15httpd"))
    os.symlink("../init.d/network", ctx.host("/etc/rc3.d/S10network"))
    wants = ctx.host("/etc/systemd/system/multi-user.target.wants")
    wants.mkdir(parents=True)
    os.symlink("/lib/systemd/system/ldap.service", wants / "ldap.service")
    os.symlink("/lib/systemd/system/ssh.service", wants / "ssh.service")
    return log


def test_haunwantedfiles_status_and_report(ctx: MgmtContext, boot_tree: Path,
                                           lines: list[str]) -> None:
    before = snapshot(ctx.sysroot)
    with pytest.raises(CheckFailed, match=r"^/etc/rc3.d/S85httpd -> ../init.d/httpd starts "
                                          r"httpd at boot"):
        Haunwantedfiles(ctx).run("status")
    with pytest.raises(CheckFailed, match=r"^3 boot-start links of managed services"):
        Haunwantedfiles(ctx).run("report")
    assert lines == ["/etc/rc3.d/S85httpd -> ../init.d/httpd starts httpd at boot",
                     "/etc/rc5.d/S85httpd -> ../init.d/httpd starts httpd at boot",
                     "/etc/systemd/system/multi-user.target.wants/ldap.service -> "
                     "/lib/systemd/system/ldap.service starts ldap at boot"]
    assert snapshot(ctx.sysroot) == before  # status and report change nothing


def test_haunwantedfiles_repair_parks_links_and_stops_services(
        ctx: MgmtContext, boot_tree: Path, lines: list[str]) -> None:
    assert Haunwantedfiles(ctx).run("repair") == "OK (3 boot-start links parked)"
    assert ctx.host("/etc/rc3.d/HA_UNWANTED/S85httpd").is_symlink()
    assert ctx.host("/etc/rc5.d/HA_UNWANTED/S85httpd").is_symlink()
    assert ctx.host("/etc/systemd/system/multi-user.target.wants/HA_UNWANTED/"
                    "ldap.service").is_symlink()
    assert sorted(p.name for p in ctx.host("/etc/rc3.d").iterdir()) == [
        "HA_UNWANTED", "K15httpd", "S10network"]
    calls = boot_tree.read_text().splitlines()
    assert sorted(calls) == [f"{ctx.host('/etc/init.d/httpd')} stop",
                             f"{ctx.host('/etc/init.d/ldap')} stop"]
    assert "service httpd stop OK" in lines
    assert any(line.startswith("service ldap stop FAILED") for line in lines)
    assert Haunwantedfiles(ctx).run("status") == "OK"
    lines.clear()
    assert Haunwantedfiles(ctx).run("repair") == "OK"  # second run: OK at once
    assert lines == []


def test_haunwantedfiles_undo_restores_exactly(ctx: MgmtContext, boot_tree: Path) -> None:
    before = snapshot(ctx.host("/etc"))
    Haunwantedfiles(ctx).run("repair")
    assert Haunwantedfiles(ctx).run("undo") == "OK (3 boot-start links restored)"
    assert snapshot(ctx.host("/etc")) == before
    assert Haunwantedfiles(ctx).run("undo") == "OK"


def test_haunwantedfiles_refuses_to_overwrite_a_parked_link(ctx: MgmtContext,
                                                            boot_tree: Path) -> None:
    os.makedirs(ctx.host("/etc/rc5.d/HA_UNWANTED"))
    os.symlink("../../init.d/httpd", ctx.host("/etc/rc5.d/HA_UNWANTED/S85httpd"))
    before = snapshot(ctx.sysroot)
    with pytest.raises(CheckFailed, match=r"cannot park .*rc5.d/S85httpd: .* already exists"):
        Haunwantedfiles(ctx).run("repair")
    assert snapshot(ctx.sysroot) == before


def test_haunwantedfiles_sees_linked_rc_directories_once(ctx: MgmtContext,
                                                         boot_tree: Path) -> None:
    real = ctx.host("/etc/rc.d/rc3.d")
    real.parent.mkdir()
    ctx.host("/etc/rc3.d").rename(real)
    os.symlink("rc.d/rc3.d", ctx.host("/etc/rc3.d"))
    assert Haunwantedfiles(ctx).run("repair") == "OK (3 boot-start links parked)"


def test_haunwantedfiles_needs_the_haservices_files(ctx: MgmtContext) -> None:
    with pytest.raises(DataError, match="etc/HA/start: data file is missing"):
        Haunwantedfiles(ctx).run("status")


# -- hapidcleaner --------------------------------------------------------------------------
def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_hapidcleaner_removes_only_stale_pid_files(ctx: MgmtContext, lines: list[str]) -> None:
    live = write(ctx.host("/run/live.pid"), f"{os.getpid()}\n")
    stale = write(ctx.host("/var/lib/pgsql/data/postmaster.pid"), f"{dead_pid()}\n/var\n")
    junk = write(ctx.host("/run/junk.pid"), "not a number\n")
    path = write(ctx.data("pid2clean"), "# pid files\n/run/live.pid\n"
                                        "/var/lib/pgsql/data/postmaster.pid\n"
                                        "/run/junk.pid\n/run/absent.pid\n")
    with pytest.raises(CheckFailed, match=rf"^{path}:3: .*postmaster.pid is stale "
                                          r"\(process \d+ is gone\)"):
        Hapidcleaner(ctx).run("status")
    assert Hapidcleaner(ctx).run("start") == "OK (2 stale pid files removed)"
    assert live.exists() and not stale.exists() and not junk.exists()
    assert any("junk.pid: removed (holds no process id)" in line for line in lines)
    assert Hapidcleaner(ctx).run("start") == "OK"
    assert Hapidcleaner(ctx).run("status") == "OK"


def test_hapidcleaner_refuses_a_directory(ctx: MgmtContext) -> None:
    ctx.host("/run/adir").mkdir(parents=True)
    path = write(ctx.data("pid2clean"), "/run/adir\n")
    with pytest.raises(CheckFailed, match=rf"^{path}:1: /run/adir is a directory"):
        Hapidcleaner(ctx).run("start")
    assert ctx.host("/run/adir").is_dir()
