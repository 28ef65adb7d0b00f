"""Data files of the management toolkit: comments, blanks, file:line errors, the line
formats of ip and mnttab, and the failure paths of haip, hamount and hatstfs that need
no namespace (their success paths run in tests/lab/test_mgmt_lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgmtkit import write
from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.datafile import LineError, absolute_path, parse_file, plain_name
from tandem.hpc.mgmt.errors import EXIT_BAD_INPUT, EXIT_FAILED, CheckFailed, DataError
from tandem.hpc.mgmt.haip import Haip, ip_line
from tandem.hpc.mgmt.hamount import Hamount, mnttab_line
from tandem.hpc.mgmt.hatstfs import Hatstfs

NO_SUCH_IFACE = "tndnoif0"


def test_comments_and_blank_lines_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "links", "# header\n\n   \n\t# indented comment\n/var/www  \n"
                                     "/etc/httpd\r\n")
    entries = parse_file(path, absolute_path)
    assert [e.value for e in entries] == ["/var/www", "/etc/httpd"]
    assert [e.where for e in entries] == [f"{path}:5", f"{path}:6"]


def test_malformed_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "links", "# ok\n/var/www\nvar/lib\n/a b\n")
    with pytest.raises(DataError) as caught:
        parse_file(path, absolute_path)
    assert str(caught.value).startswith(f"{path}:3: expected an absolute path")
    assert "(and 1 more malformed lines)" in str(caught.value)
    assert caught.value.exit_code == EXIT_BAD_INPUT


def test_missing_and_unreadable_data_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"/nothere: data file is missing"):
        parse_file(tmp_path / "nothere", absolute_path)
    (tmp_path / "adir").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        parse_file(tmp_path / "adir", absolute_path)
    (tmp_path / "binary").write_bytes(b"/ok\n\xff\xfe\n")
    with pytest.raises(DataError, match="not UTF-8"):
        parse_file(tmp_path / "binary", absolute_path)


@pytest.mark.parametrize(("text", "value"), [("/var//lib/./pgsql/", "/var/lib/pgsql"),
                                             ("//etc/httpd", "/etc/httpd")])
def test_absolute_paths_are_normalised(text: str, value: str) -> None:
    assert absolute_path(text) == value


@pytest.mark.parametrize("text", ["a/b", "..", ".", "two words"])
def test_plain_names_refuse_paths(text: str) -> None:
    with pytest.raises(LineError):
        plain_name(text)


@pytest.mark.parametrize(("text", "interface", "address"), [
    ("\tbond0\t198.51.100.50/24", "bond0", "198.51.100.50/24"),
    ("eth1\t203.0.113.1/16", "eth1", "203.0.113.1/16"),
    ("  eth0      198.51.100.65/25  ", "eth0", "198.51.100.65/25"),
])
def test_ip_lines(text: str, interface: str, address: str) -> None:
    parsed = ip_line(text)
    assert (parsed.interface, parsed.address) == (interface, address)


@pytest.mark.parametrize(("text", "problem"), [
    ("\teth0\t198.51.100.50", "expected <TAB>INTERFACE<TAB>A.B.C.D/PREFIX"),
    ("\teth0\t198.51.100.300/24", "not an IPv4"),
    ("\teth0\t198.51.100.5/33", "not an IPv4"),
    ("\teth0", "expected"),
    ("\teth0\t2001:db8::1/64", "expected"),
])
def test_bad_ip_lines(text: str, problem: str) -> None:
    with pytest.raises(LineError, match=problem):
        ip_line(text)


@pytest.mark.parametrize(("text", "device", "mountpoint"), [
    ("/dev/sdj1        /etcha", "/dev/sdj1", "/etcha"),
    ("/dev/sdp1\t/varha   ", "/dev/sdp1", "/varha"),
    ("/dev/tandem/shared /srv/x", "/dev/tandem/shared", "/srv/x"),
])
def test_mnttab_lines(text: str, device: str, mountpoint: str) -> None:
    parsed = mnttab_line(text)
    assert (parsed.device, parsed.mountpoint) == (device, mountpoint)


@pytest.mark.parametrize(("text", "problem"), [
    ("sdj1 /etcha", "expected /dev/DEVICE"),
    ("/dev/sdj1", "expected /dev/DEVICE"),
    ("/dev/sdj1 etcha", "absolute mount point"),
    ("/dev/sdj1 /", "other than /"),
    ("/dev/sdj1 /etc ha", "no blanks"),
])
def test_bad_mnttab_lines(text: str, problem: str) -> None:
    with pytest.raises(LineError, match=problem):
        mnttab_line(text)


def test_haip_reports_the_line_of_a_bad_entry(ctx: MgmtContext) -> None:
    path = write(ctx.data("ip"), "# addresses\n\teth0\t198.51.100.50/24\n\teth0\t10.0.0/8\n")
    with pytest.raises(DataError, match=rf"^{path}:3: "):
        Haip(ctx).run("status")
    # A name the ip agent refuses is reported on its line too.
    write(path, "\tbad/name\t198.51.100.50/24\n")
    with pytest.raises(DataError, match=rf"^{path}:1: interface"):
        Haip(ctx).run("start")


def test_haip_on_a_missing_interface_fails_naming_the_line(ctx: MgmtContext) -> None:
    path = write(ctx.data("ip"), f"\t{NO_SUCH_IFACE}\t198.51.100.50/24\n")
    with pytest.raises(CheckFailed, match=rf"^{path}:1: .*not configured") as caught:
        Haip(ctx).run("status")
    assert caught.value.exit_code == EXIT_FAILED
    with pytest.raises(CheckFailed, match=rf"^{path}:1: start .*{NO_SUCH_IFACE}"):
        Haip(ctx).run("start")
    assert Haip(ctx).is_active() is False


def test_hamount_and_hatstfs_without_the_file_system(ctx: MgmtContext) -> None:
    path = write(ctx.data("mnttab"), "/dev/tandem-test-absent\t/varha\n")
    with pytest.raises(CheckFailed, match=rf"^{path}:1: .*not mounted"):
        Hamount(ctx).run("status")
    with pytest.raises(CheckFailed, match=rf"^{path}:1: .*not mounted"):
        Hatstfs(ctx).run("status")
    assert Hamount(ctx).run("stop").startswith("OK")  # nothing mounted: nothing to do
    with pytest.raises(CheckFailed, match=rf"^{path}:1: mounting /dev/tandem-test-absent"):
        Hamount(ctx).run("start")
    assert not ctx.host("/varha").exists()  # a refused start changes nothing


def test_missing_data_file_is_bad_input(ctx: MgmtContext) -> None:
    with pytest.raises(DataError, match=r"etc/HA/mnttab: data file is missing") as caught:
        Hamount(ctx).run("start")
    assert caught.value.exit_code == EXIT_BAD_INPUT
