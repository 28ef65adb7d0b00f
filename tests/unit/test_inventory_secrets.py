"""`db import --secrets-dir DIR`: a password written inline in an imported file goes to
a file of its own (0600) whose path the inventory keeps; the password itself is never
in the database, an export or the command's output. Without the option such a file
is refused in one line naming it. A refused import writes no file. On SQLite and
PostgreSQL."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from inventorykit import db, state

from tandem.cli.main import main as tandem_main
from tandem.inventory.database import Database
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.importer import Imported, ImportSettings, import_files
from tandem.inventory.secrets import SecretFiles
from tandem.inventory.show import show
from tandem.inventory.writes import change

__all__ = ["db"]
EXAMPLES = Path(__file__).parents[2] / "examples"
SITE_CELLS = sorted((EXAMPLES / "site").glob("io*.toml"))
PAIR = EXAMPLES / "mgmt-ha" / "inventory.toml"


def _import(db: Database, secrets: SecretFiles, *paths: Path) -> list[Imported]:
    """Import as the command does: files staged before the commit, published after."""
    try:
        with change(db) as changes:
            done = import_files(changes.session, list(paths), ImportSettings(secrets=secrets))
            changes.before_commit.append(secrets.stage)
    except BaseException:
        secrets.discard()
        raise
    secrets.publish()
    return done


def _inline_passwords(*paths: Path) -> dict[str, str]:
    """node -> its BMC password, as the files write them."""
    return {node["name"]: node["bmc"]["password"] for path in paths
            for node in tomllib.loads(path.read_text())["nodes"]}


def test_the_example_files_import_with_their_passwords_in_files(db: Database,
                                                                tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    _import(db, SecretFiles(secrets_dir), PAIR, *SITE_CELLS)
    passwords = _inline_passwords(PAIR, *SITE_CELLS)
    assert len(passwords) == 10  # node1, node2, io1..io8
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    with db.transaction() as session:
        nodes = {n["name"]: n for n in show(session, "nodes")}
    for node, password in passwords.items():
        path = secrets_dir / f"{node}-bmc.password"
        assert path.read_text() == password + "\n"
        assert path.stat().st_mode & 0o777 == 0o600
        assert nodes[node]["bmc"]["password_file"] == str(path)
    everything = state(db)
    assert not [p for p in passwords.values() if p in everything]
    assert sorted(p.name for p in secrets_dir.iterdir()) == sorted(
        f"{n}-bmc.password" for n in passwords)  # no temporary file left


def test_without_the_option_one_line_names_it_and_nothing_changes(db: Database,
                                                                  tmp_path: Path) -> None:
    before = state(db)
    with pytest.raises(InventoryInvalid) as caught:
        _import(db, SecretFiles(), SITE_CELLS[0])
    message = str(caught.value)
    assert message == (f"{SITE_CELLS[0]}: node io1: BMC: a password in the file: the "
                       f"inventory keeps no secrets: put the password in a file only root "
                       f"can read and give its path (password_file), or import with "
                       f"--secrets-dir DIR")
    assert state(db) == before


BAD_AFTER_PASSWORDS = """
[[cells]]
name = "io12"
members = ["io1", "io2"]
[[cells.services]]
name = "svc"
[[cells.services.resources]]
name = "r"
agent = "no-such-agent"
"""


def test_a_refused_import_writes_no_password_file(db: Database, tmp_path: Path) -> None:
    """The cell file is fine (its passwords are kept), the document after it makes a
    cell the loader refuses: found only when the cells are generated, just before the
    commit. No file may be left, nor the directory made for them."""
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_AFTER_PASSWORDS)
    secrets_dir = tmp_path / "secrets"
    before = state(db)
    with pytest.raises(InventoryInvalid, match="no-such-agent"):
        _import(db, SecretFiles(secrets_dir), SITE_CELLS[0], bad)
    assert not secrets_dir.exists()
    assert state(db) == before


def test_two_files_cannot_give_one_node_two_passwords(db: Database, tmp_path: Path) -> None:
    other = tmp_path / "io12.toml"
    other.write_text(SITE_CELLS[0].read_text().replace('password = "lab-io1"',
                                                       'password = "another"'))
    with pytest.raises(InventoryInvalid, match=r"node io1: BMC: another file gives "
                                               r".*io1-bmc.password another password"):
        _import(db, SecretFiles(tmp_path / "s"), SITE_CELLS[0], other)
    assert not (tmp_path / "s").exists()


def test_fence_device_passwords(db: Database, tmp_path: Path) -> None:
    """A device's own password goes to CELL-DEVICE.password; an option that holds one
    (passwd=...) is refused: the device's password_file is the one place for it."""
    cell = tmp_path / "io12.toml"
    cell.write_text(SITE_CELLS[0].read_text().replace(
        '[fence_devices.bmc]\ntype = "ipmi"',
        '[fence_devices.pdu]\ntype = "external"\nagent = "fence_apc"\n'
        'address = "198.51.100.250"\npassword = "pdu-secret"\n\n'
        '[fence_devices.bmc]\ntype = "ipmi"'))
    _import(db, SecretFiles(tmp_path / "s"), cell)
    assert (tmp_path / "s" / "io12-pdu.password").read_text() == "pdu-secret\n"
    with db.transaction() as session:
        [pdu] = [d for d in show(session, "fence") if d["name"] == "pdu"]
    assert pdu["password_file"] == str(tmp_path / "s" / "io12-pdu.password")
    hidden = tmp_path / "hidden.toml"
    hidden.write_text(cell.read_text().replace('password = "pdu-secret"',
                                               'options = { passwd = "x" }'))
    before = state(db)
    with pytest.raises(InventoryInvalid, match="fence device pdu: option 'passwd': the "
                                               "inventory keeps no secrets"):
        _import(db, SecretFiles(tmp_path / "s2"), hidden)
    assert state(db) == before


def test_the_directory_must_be_absolute() -> None:
    with pytest.raises(InventoryInvalid, match="--secrets-dir 'secrets': expected an "
                                               "absolute path"):
        SecretFiles(Path("secrets"))


def test_the_command_says_where_it_wrote_and_never_what(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/inventory.db"
    assert tandem_main(["db", "init", "--db", url]) == 0
    argv = ["db", "import", "--db", url, *map(str, SITE_CELLS[:2])]
    assert tandem_main(argv) == 1
    assert capsys.readouterr().err.strip().endswith("or import with --secrets-dir DIR")
    assert tandem_main([*argv, "--secrets-dir", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert f"password written to {tmp_path}/s/io1-bmc.password (mode 0600)" in out
    assert not [p for p in _inline_passwords(*SITE_CELLS[:2]).values() if p in out]
    assert tandem_main(["db", "export", "--db", url]) == 0
    assert "lab-io" not in capsys.readouterr().out
