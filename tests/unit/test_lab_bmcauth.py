"""Where the lab's virtual BMCs get their passwords: inline, or a password file read on
the host when the lab is built (a relative one from the configuration's directory, or
from the cell file's in a site), kept 0600 in the lab's directory for the BMC process;
a file that cannot be read is one line naming it, before the lab makes anything."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fleetkit import copy_site

from tandem.config import parse_config
from tandem.config.model import BmcDef
from tandem.fleet.directory import DirectorySource
from tandem.lab.bmcauth import host_password, load_password, read_passwords, save_passwords
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError
from tandem.lab.site import site_lab_config, site_lab_text


def test_inline_absolute_and_relative(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-a-file\n")
    base = BmcDef(address="198.51.100.101")
    assert host_password(dataclasses.replace(base, password="inline"), "n1", tmp_path) == \
        "inline"
    absolute = dataclasses.replace(base, password_file=str(tmp_path / "pw"))
    assert host_password(absolute, "n1", Path("/nonexistent")) == "from-a-file"
    relative = dataclasses.replace(base, password_file="pw")
    assert host_password(relative, "n1", tmp_path) == "from-a-file"
    with pytest.raises(LabError) as caught:
        host_password(relative, "n1", tmp_path / "elsewhere")
    assert str(caught.value) == (f"the BMC password of n1: cannot read {tmp_path}/elsewhere/"
                                 f"pw on this host: No such file or directory (the lab's "
                                 f"BMC takes its password from it)")


def test_a_site_cell_with_a_relative_password_file(tmp_path: Path) -> None:
    """The lab view is written to another directory: the path must be made absolute
    from the cell file's directory before that."""
    site = copy_site(tmp_path)
    (site / "secrets").mkdir()
    (site / "secrets" / "io3.pw").write_text("kept-apart\n")
    cell = site / "io34.toml"
    cell.write_text(cell.read_text().replace('password = "lab-io3"',
                                             'password_file = "secrets/io3.pw"'))
    io3 = site_lab_config(DirectorySource(site)).node("io3")
    assert io3.bmc is not None and io3.bmc.password_file == str(site / "secrets" / "io3.pw")
    view = tmp_path / "elsewhere" / "view.toml"
    view.parent.mkdir()
    view.write_text(site_lab_text(site))
    passwords, _ = read_passwords(parse_config(view.read_text(), str(view)))
    assert passwords["io3"] == "kept-apart" and passwords["io4"] == "lab-io4"
    assert "mgmt" not in passwords  # no BMC


def test_kept_for_the_bmc_process_only_root_can_read(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_LAB_ROOT", str(tmp_path))
    names = LabNames("lab1")
    save_passwords({"io1": "one", "io2": "two"}, names)
    assert load_password(names, "io2") == "two"
    path = names.node_dir("io1") / "bmc.password"
    assert path.stat().st_mode & 0o777 == 0o600


def test_lab_up_refuses_before_making_anything(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked with the other refusals of `lab up`, before its directory exists (the
    host's addresses are only read, to check for overlaps)."""
    from tandem.lab.builder import lab_down, lab_up
    from tandem.lab.names import existing_labs

    monkeypatch.setenv("TANDEM_LAB_ROOT", str(tmp_path / "labs"))
    config = tmp_path / "cell.toml"
    text = (Path(__file__).parents[2] / "examples" / "cell2.toml").read_text()
    config.write_text(text.replace('"/etc/tandem/bmc/node1.password"', '"one.pw"')
                      .replace('"/etc/tandem/bmc/node2.password"', '"none.pw"'))
    (tmp_path / "one.pw").write_text("tandem-lab\n")
    assert 'password_file = "none.pw"' in config.read_text()
    try:
        with pytest.raises(LabError, match=r"the BMC password of node2: cannot read "
                                           r".*none.pw"):
            lab_up(str(config), "pwcheck")
    finally:
        if "pwcheck" in existing_labs():  # built after all: the test failed, clean up
            lab_down("pwcheck")
    assert not (tmp_path / "labs").exists()
