"""The lab view of a site (`tandem lab up --site`): every node of every cell plus the
management node, in one configuration the lab can build; only the admin network is a
ring; the lab's own runtime directories; bad sites refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetkit import copy_site

from tandem.config import parse_config
from tandem.fleet.directory import DirectorySource
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError
from tandem.lab.site import SITE_RUNTIME_DIRS, site_lab_config, site_lab_text
from tandem.lab.sshd import LabSsh


def test_the_lab_view_holds_the_management_node_and_every_member(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    config = parse_config(site_lab_text(site), "view")
    assert [n.name for n in config.nodes] == ["mgmt", *(f"io{i}" for i in range(1, 9))]
    assert [n.id for n in config.nodes] == list(range(1, 10))
    assert [(n.name, n.ring) for n in config.networks] == [("admin", 0), ("backbone", None)]
    io5 = config.node("io5")
    assert str(io5.interface_on("admin").address) == "198.51.100.15/24"  # type: ignore[union-attr]
    assert io5.bmc is not None and io5.bmc.address == "198.51.100.115" and io5.fence == ()
    assert config.node("mgmt").bmc is None
    assert config.lab is not None and set(SITE_RUNTIME_DIRS) <= set(config.lab.private_dirs)


def test_a_site_without_management_node_or_with_clashing_disks(tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    text = (site / "site.toml").read_text()
    (site / "site.toml").write_text(text.split("[management]")[0])
    with pytest.raises(LabError, match=r"site.toml has no \[management\] node"):
        site_lab_config(DirectorySource(site))
    (site / "site.toml").write_text(text)
    for cell in ("io12", "io34"):
        path = site / f"{cell}.toml"
        path.write_text(path.read_text() + '\n[lab]\ndisks = [ { name = "d", size = "8M" } ]\n')
    with pytest.raises(LabError, match="two cells have a lab disk named 'd'"):
        site_lab_config(DirectorySource(site))


def test_the_fleet_settings_point_at_the_lab_keys(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tandem.fleet.settings import load_settings

    monkeypatch.setenv("TANDEM_LAB_ROOT", str(tmp_path))
    ssh = LabSsh(LabNames("site1"))
    ssh.fleet_file.parent.mkdir(parents=True)
    ssh.fleet_file.write_text(ssh._fleet_text())
    settings = load_settings(str(ssh.fleet_file))
    assert settings.ssh.identity_file == str(tmp_path / "site1/ssh/id_ed25519")
    assert settings.ssh.known_hosts == str(tmp_path / "site1/ssh/known_hosts")
    assert settings.ssh.options == ("-F", "/dev/null", "-oLogLevel=ERROR")
    assert Path(settings.remote_path, "tandem").exists()


def test_lab_up_site_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tandem.cli.main import main

    site = copy_site(tmp_path)
    assert main(["lab", "up", "--site", str(site), "--start"]) == 2
    assert "--start goes with --config" in capsys.readouterr().err
    (site / "site.toml").write_text("")
    assert main(["lab", "up", "--site", str(site), "--name", "nomgmt"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no [management] node" in err
