"""Cell files and BMC passwords on disk: a file that holds a password inline is written
0600 wherever tandem writes it (never passing through a wider mode), the others 0644;
`tandem config check` and tandemd warn, as ssh does for a key, when such a file or a
`password_file` is open to other users; the lab makes up the passwords of a cell that
keeps them in files, and its BMCs read them back."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tandem.cli.main import main as tandem_main
from tandem.config import parse_config
from tandem.config.cellfile import exposures, inline_secrets, mode_for, write_cell_file
from tandem.config.errors import ConfigError
from tandem.daemon import main as daemon_main
from tandem.daemon.configpush import install
from tandem.lab.bmcauth import (
    bmc_password,
    read_passwords,
    save_passwords,
    write_password_files,
)
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError

EXAMPLES = Path(__file__).parents[2] / "examples"
HEAD = '[cluster]\nname = "c"\nkey_file = "/etc/tandem/cluster.key"\n[networks.a]\nring = 0\n'


def node(index: int, bmc: str) -> str:
    return (f'[[nodes]]\nname = "n{index}"\nid = {index}\n'
            f'networks.a = {{ interface = "eth0", address = "198.51.100.{10 + index}/24" }}\n'
            f'bmc = {{ address = "198.51.100.{100 + index}", user = "admin", {bmc} }}\n')


INLINE = HEAD + node(1, 'password = "s3cret"') + node(2, 'password_file = "n2.pw"')
IN_FILES = HEAD + node(1, 'password_file = "/etc/tandem/bmc/n1.pw"') \
    + node(2, 'password_file = "/etc/tandem/bmc/n2.pw"')


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def open_umask() -> Iterator[None]:
    """The most permissive umask: modes come from the code, not from the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_inline_secrets_are_found_wherever_they_are() -> None:
    text = INLINE + ('[fence_devices.pdu]\ntype = "external"\nagent = "fence_apc"\n'
                     'options = { passwd = "x" }\n')
    assert inline_secrets(text) == ["nodes[0].bmc.password", "fence_devices.pdu.options.passwd"]
    assert inline_secrets(IN_FILES) == [] and mode_for(IN_FILES) == 0o644
    assert inline_secrets("not = [toml") == ["(unparsable)"]  # cannot prove it holds none
    assert mode_for("not = [toml") == 0o600


@pytest.mark.usefixtures("open_umask")
def test_a_cell_file_with_a_password_is_0600_from_its_first_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modes_while_writing: list[int] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        modes_while_writing.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    path = tmp_path / "etc" / "cluster.toml"
    write_cell_file(path, INLINE)
    assert modes_while_writing == [0o600] and mode(path) == 0o600
    write_cell_file(path, IN_FILES)
    assert mode(path) == 0o644 and path.read_text() == IN_FILES
    assert [p.name for p in path.parent.iterdir()] == ["cluster.toml"]  # no temp left


@pytest.mark.usefixtures("open_umask")
def test_push_and_resync_install_private_files_and_tighten_the_previous(
        tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(INLINE)
    path.chmod(0o644)  # as the lab nodes had it before
    install(path, IN_FILES)
    assert mode(path) == 0o644
    assert mode(tmp_path / "cluster.toml.prev") == 0o600  # it holds the old password
    install(path, INLINE)
    assert mode(path) == 0o600 and (tmp_path / "cluster.toml.prev").read_text() == IN_FILES


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match=r"^.*/f/cluster.toml: cannot write: "):
        write_cell_file(tmp_path / "f" / "cluster.toml", INLINE)


def test_exposures_name_the_file_and_the_password_files(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(INLINE)
    path.chmod(0o644)
    (tmp_path / "n2.pw").write_text("pw\n")
    (tmp_path / "n2.pw").chmod(0o640)
    config = parse_config(INLINE, str(path))
    assert exposures(path, config) == [
        f"{path} holds a password inline (nodes[0].bmc.password) and is readable by other "
        f"users (mode 0644): chmod 600 it, or move the password to a password_file",
        f"password file {tmp_path / 'n2.pw'} is readable by other users (mode 0640): "
        f"chmod 600 it"]
    path.chmod(0o600)
    (tmp_path / "n2.pw").chmod(0o600)
    assert exposures(path, config) == []
    (tmp_path / "n2.pw").unlink()  # a file that is not here (a management node) is no finding
    assert exposures(path, config) == []


def test_config_check_warns_and_still_passes(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(INLINE)
    path.chmod(0o644)
    assert tandem_main(["config", "check", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"tandem: warning: {path} holds a password inline") \
        and len(err.splitlines()) == 1
    assert tandem_main(["config", "check", "--json", str(path)]) == 0
    assert len(json.loads(capsys.readouterr().out)["warnings"]) == 1
    path.chmod(0o600)
    assert tandem_main(["config", "check", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_the_daemon_warns_at_start_and_reload(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(INLINE)
    path.chmod(0o604)
    with caplog.at_level(logging.WARNING, logger="tandemd"):
        daemon_main.warn_exposed(str(path), parse_config(INLINE, str(path)))
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} holds a password inline (nodes[0].bmc.password) and is readable by other "
        f"users (mode 0604): chmod 600 it, or move the password to a password_file"]


def test_the_examples_keep_passwords_in_files() -> None:
    for name in ("cell2.toml", "demo-cell.toml"):
        assert inline_secrets((EXAMPLES / name).read_text()) == [], name


# -- the lab -------------------------------------------------------------------------------
def test_the_lab_makes_up_password_files_and_its_bmcs_read_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_LAB_ROOT", str(tmp_path))
    config = parse_config(IN_FILES, str(tmp_path / "cell.toml"))
    passwords, made = read_passwords(config)
    assert sorted(made) == ["/etc/tandem/bmc/n1.pw", "/etc/tandem/bmc/n2.pw"]
    assert len(set(made.values())) == 2
    assert passwords == {"n1": made["/etc/tandem/bmc/n1.pw"],
                         "n2": made["/etc/tandem/bmc/n2.pw"]}
    names = LabNames("lab1")
    root = names.node_root("n1")
    write_password_files(made, root)
    assert mode(root / "etc/tandem/bmc/n2.pw") == 0o600  # n1 can fence n2
    save_passwords(passwords, names)
    assert bmc_password("lab1", config.node("n1")) == made["/etc/tandem/bmc/n1.pw"]
    inline = parse_config(INLINE, "cell.toml")
    assert bmc_password("lab1", inline.node("n1")) == "s3cret"
    with pytest.raises(LabError):  # blank nodes: the lab cannot make them, nor read them
        read_passwords(config, blank=True)


def test_the_lab_reads_a_password_file_that_exists_on_the_host(tmp_path: Path) -> None:
    (tmp_path / "n1.pw").write_text("from-the-host\n")
    text = IN_FILES.replace("/etc/tandem/bmc/n1.pw", "n1.pw")
    passwords, made = read_passwords(parse_config(text, str(tmp_path / "cell.toml")))
    assert passwords["n1"] == "from-the-host" and "n1.pw" not in str(made)


def test_the_lab_refuses_a_password_file_it_can_neither_make_nor_find() -> None:
    text = IN_FILES.replace("/etc/tandem/bmc/n1.pw", "/nonexistent/n1.pw")
    with pytest.raises(LabError, match=r"the BMC password of n1: cannot read "
                                       r"/nonexistent/n1.pw on this host"):
        read_passwords(parse_config(text, "cell.toml"))
