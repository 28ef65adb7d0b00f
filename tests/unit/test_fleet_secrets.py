"""`tandem cells push --with-key` carries the password files a cell's configuration
names (the BMCs', the fence devices') with the key: read on the management node, sent
on stdin only, written 0600 at the same path on each node. A file the management node
cannot read stops the push before anything is sent; a node refuses a path it would not
write to, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetkit import PretendSite, cell_keys, copy_site

from tandem.fleet.directory import DirectorySource
from tandem.fleet.errors import FleetError
from tandem.fleet.install import NodeFiles, install
from tandem.fleet.operations import Fleet
from tandem.fleet.payload import decode_payload, make_payload
from tandem.fleet.settings import FleetSettings
from tandem.fleet.source import Selection

ALL = Selection(all=True)
PASSWORDS = {"io1": "bmc-one", "io2": "bmc-two"}


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """The example site, cell io12's BMC passwords in files of the management node."""
    folder = copy_site(tmp_path)
    text = (folder / "io12.toml").read_text()
    for node, password in PASSWORDS.items():
        path = tmp_path / "mgmt" / "secrets" / f"{node}-bmc.password"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        text = text.replace(f'password = "lab-{node}"', f'password_file = "{path}"')
    (folder / "io12.toml").write_text(text)
    return folder


@pytest.fixture()
def keys(tmp_path: Path) -> Path:
    return cell_keys(tmp_path)


def fleet(site: Path, nodes: PretendSite, keys: Path) -> Fleet:
    return Fleet(DirectorySource(site), nodes, FleetSettings(key_dir=str(keys)))


def secret_path(tmp_path: Path, node: str) -> Path:
    return tmp_path / "mgmt" / "secrets" / f"{node}-bmc.password"


def test_each_member_gets_every_password_file_of_its_cell(site: Path, keys: Path,
                                                          tmp_path: Path) -> None:
    nodes = PretendSite(site, tmp_path)
    outcome = fleet(site, nodes, keys).push(ALL, with_key=True)
    assert outcome.ok
    for member in ("io1", "io2"):
        root = nodes.nodes[member].root
        for node, password in PASSWORDS.items():
            copy = root / str(secret_path(tmp_path, node)).lstrip("/")
            assert copy.read_text() == password + "\n"
            assert copy.stat().st_mode & 0o777 == 0o600
    [io12] = [c for c in outcome.cells if c.name == "io12"]
    assert all("key installed; 2 of 2 password files installed" in n.detail
               for n in io12.nodes)
    [io34] = [c for c in outcome.cells if c.name == "io34"]
    assert all("password" not in n.detail for n in io34.nodes)  # its files name none
    again = fleet(site, nodes, keys).push(ALL, with_key=True)
    [io12] = [c for c in again.cells if c.name == "io12"]
    assert all("2 password files unchanged" in n.detail for n in io12.nodes)


def test_the_passwords_travel_on_stdin_only(site: Path, keys: Path, tmp_path: Path) -> None:
    nodes = PretendSite(site, tmp_path)
    fleet(site, nodes, keys).push(ALL, with_key=True)
    jobs = [j for run in nodes.runs for j in run]
    for password in PASSWORDS.values():
        assert not any(password in j.command for j in jobs)
        assert any(j.stdin and password.encode() in j.stdin for j in jobs)
    assert not any(password.encode() in (j.stdin or b"") for j in jobs
                   if "io3" in j.nodes for password in PASSWORDS.values())
    fleet(site, nodes, keys).push(ALL)  # without --with-key: no password sent
    assert all(b'"secrets"' not in (j.stdin or b"") for j in nodes.runs[-1])


@pytest.mark.parametrize(("damage", "problem"), [
    ("missing", r"cell io12: password file .*io1-bmc.password: cannot be read on this "
                r"node: No such file or directory \(put the password there, mode 0600\)"),
    ("relative", r"cell io12: password file secrets/io1-bmc.password: expected an absolute "
                 r"path \(the nodes get the file at the same path\)"),
])
def test_a_password_file_that_cannot_be_sent_stops_the_push(
        site: Path, keys: Path, tmp_path: Path, damage: str, problem: str) -> None:
    if damage == "missing":
        secret_path(tmp_path, "io1").unlink()
    else:
        text = (site / "io12.toml").read_text()
        (site / "io12.toml").write_text(text.replace(str(secret_path(tmp_path, "io1")),
                                                     "secrets/io1-bmc.password"))
    nodes = PretendSite(site, tmp_path)
    with pytest.raises(FleetError, match=problem) as caught:
        fleet(site, nodes, keys).push(ALL, with_key=True)
    assert "\n" not in str(caught.value)
    assert nodes.runs == []
    assert fleet(site, nodes, keys).push(ALL).ok  # without --with-key no file is needed


@pytest.mark.parametrize("path", ["relative/pw", "/etc/tandem/../shadow", "/etc//pw", "/"])
def test_a_node_refuses_a_path_it_would_not_write(tmp_path: Path, path: str) -> None:
    text = (copy_site(tmp_path) / "io34.toml").read_text()
    files = NodeFiles(config=tmp_path / "node/etc/tandem/cluster.toml", root=tmp_path / "node")
    payload = decode_payload(make_payload("io34", text, bytes(32), {path: "x"}).encode())

    class Stopped:
        def running_version(self) -> int | None:
            return None

        def push(self, text: str) -> None:
            raise AssertionError("no daemon here")

    with pytest.raises(FleetError, match="not an absolute, plain path"):
        install(payload, "io3", files, Stopped())
    assert not (tmp_path / "node").exists()


def test_the_passwords_are_in_no_repr() -> None:
    payload = make_payload("io12", "text", bytes(32), {"/etc/pw": "very-secret"})
    assert "very-secret" not in repr(payload)
    assert decode_payload(payload.encode()).secrets == {"/etc/pw": "very-secret"}
