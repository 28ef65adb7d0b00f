"""`tandem batch check | generate` on the command line: exit status 0 when nothing is
an error (warnings alone too), 1 when something is or a file is unreadable, 2 for a bad
command line; one line per finding, or one JSON document; generated files on standard
output or written whole to --output, never half, never on error."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from inventorykit import add_node
from test_batch_check import (
    BACKUP_SLURM,
    GOOD_LSF,
    GOOD_PBS,
    GOOD_SLURM,
    HOSTS_TEXT,
    cell_text,
)
from test_batch_generate import MANUAL, make_cell

from tandem.cli.main import main
from tandem.inventory.database import Database

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A cell file (mode tandem), a hosts file and good batch-system files."""
    (tmp_path / "cell.toml").write_text(cell_text("tandem"))
    (tmp_path / "slurm-mode.toml").write_text(cell_text("slurm"))
    (tmp_path / "hosts").write_text(HOSTS_TEXT)
    (tmp_path / "slurm.conf").write_text(GOOD_SLURM)
    (tmp_path / "pbs.conf").write_text(GOOD_PBS)
    lsf = tmp_path / "lsf"
    lsf.mkdir()
    (lsf / "lsf.conf").write_text(GOOD_LSF)
    (lsf / "hosts").write_text("10.1.0.65 ns\n10.1.0.1 ns0\n10.1.0.13 ns13\n")
    return tmp_path


def check(files: Path, *args: str) -> int:
    return main(["batch", "check", "--cell", str(files / "cell.toml"),
                 "--hosts", str(files / "hosts"), *args])


# -- check ----------------------------------------------------------------------------------------
def test_good_files_exit_0(files: Path, capsys: Capture) -> None:
    for option, name in (("--slurm", "slurm.conf"), ("--pbs", "pbs.conf"),
                         ("--lsf", "lsf/lsf.conf")):
        assert check(files, option, str(files / name)) == 0
        out = capsys.readouterr().out
        assert out == (f"{files / name}: nothing found that would break a failover of "
                       f"service batch of cell mgmt" +
                       (" (mode tandem, failover up to 94 s)" if option == "--slurm" else "")
                       + "\n")


def test_an_error_exits_1_with_one_line_each(files: Path, capsys: Capture) -> None:
    conf = files / "slurm.conf"
    conf.write_text(GOOD_SLURM.replace("/shared/", "/var/") + "SlurmctldHost=bali\n")
    assert check(files, "--slurm", str(conf)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{conf}:3: error: StateSaveLocation /var/slurm/state is not")
    assert lines[1].startswith(f"{conf}:5: error: SlurmctldHost bali is not a node")
    assert lines[2] == (f"{conf}: 2 errors, 0 warnings for a failover of service batch of "
                        f"cell mgmt (mode tandem, failover up to 94 s)")


def test_warnings_alone_exit_0(files: Path, capsys: Capture) -> None:
    (files / "slurm.conf").write_text(BACKUP_SLURM)
    assert main(["batch", "check", "--slurm", str(files / "slurm.conf"), "--cell",
                 str(files / "slurm-mode.toml"), "--hosts", str(files / "hosts")]) == 0
    out = capsys.readouterr().out
    assert ":4: warning: with Slurm's own backup the queue is unavailable" in out
    assert "0 errors, 1 warning for a failover" in out


def test_json(files: Path, capsys: Capture) -> None:
    conf = files / "pbs.conf"
    conf.write_text(GOOD_PBS.replace("PBS_SERVER=ns0", "PBS_SERVER=ns13"))
    assert check(files, "--pbs", str(conf), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"system", "file", "cell", "service", "mode", "failover_estimate_s",
                         "errors", "warnings", "findings"}
    assert (data["system"], data["cell"], data["service"], data["errors"], data["warnings"]) \
        == ("pbs", "mgmt", "batch", 0, 1)
    assert data["findings"] == [{"severity": "warning", "file": str(conf), "line": 6,
                                 "message": data["findings"][0]["message"]}]
    assert "not PBS_PRIMARY" in data["findings"][0]["message"]


def test_lsfs_hosts_file_beside_lsf_conf_or_given(files: Path, capsys: Capture) -> None:
    conf = files / "lsf" / "lsf.conf"
    bad = files / "bad-hosts"
    bad.write_text("10.9.9.9 ns0\n")
    assert check(files, "--lsf", str(conf), "--lsf-hosts", str(bad)) == 1
    assert f"{bad}:1: error: ns0, a node of cell mgmt" in capsys.readouterr().out
    (files / "lsf" / "hosts").unlink()
    assert check(files, "--lsf", str(conf)) == 0
    assert "warning: no LSF hosts file" in capsys.readouterr().out


def test_the_service_is_chosen(files: Path, capsys: Capture) -> None:
    assert check(files, "--pbs", str(files / "pbs.conf"), "--service", "batch") == 0
    assert check(files, "--pbs", str(files / "pbs.conf"), "--service", "nope") == 1
    err = capsys.readouterr().err
    assert err == f"tandem: error: {files / 'cell.toml'}: unknown service 'nope' (known: " \
                  f"batch)\n"


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("slurm.conf", "SlurmctldHost=ns0\nStateSaveLocation /x\n", ":2: expected Key=Value"),
    ("absent.conf", None, ": cannot read"),
    ("cell.toml", "[cluster\n", "not valid TOML"),
])
def test_unreadable_files_exit_1_with_one_line(files: Path, capsys: Capture, name: str,
                                               text: str | None, problem: str) -> None:
    if text is not None:
        (files / name).write_text(text)
    conf = files / ("slurm.conf" if name == "cell.toml" else name)
    assert check(files, "--slurm", str(conf)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tandem: error: {files / name}") and problem in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("args", [
    ["batch", "check", "--cell", "c.toml"],
    ["batch", "check", "--slurm", "a", "--pbs", "b", "--cell", "c.toml"],
    ["batch", "check", "--slurm", "a"],
    ["batch", "generate", "pbs"],
    ["batch", "generate", "pbs", "--role", "master"],
    ["batch", "generate", "lsf-hosts"],
])
def test_a_bad_command_line_exits_2(args: list[str], capsys: Capture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert "usage: tandem batch" in capsys.readouterr().err


def test_usage_errors_and_groups_exit_2(files: Path, capsys: Capture) -> None:
    assert check(files, "--slurm", str(files / "slurm.conf"), "--lsf-hosts", "h") == 2
    assert capsys.readouterr().err == "tandem: error: --lsf-hosts goes with --lsf\n"
    assert main(["batch"]) == 2
    assert "check" in capsys.readouterr().err
    assert main(["batch", "generate"]) == 2
    assert "lsf-hosts" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["batch"], ["batch", "check"], ["batch", "generate"],
                                  ["batch", "generate", "pbs"],
                                  ["batch", "generate", "lsf-hosts"]])
def test_help(args: list[str], capsys: Capture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: tandem {' '.join(args)}")


# -- generate --------------------------------------------------------------------------------------
@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/inventory.db"
    db = Database(url)
    db.init()
    add_node(db, "ns0", 1)
    add_node(db, "ns13", 13)
    make_cell(db, "mgmt", "management", ("ns0", "ns13"), "198.51.100.65/24")
    db.dispose()
    return url


def test_generate_pbs_to_standard_output(db_url: str, capsys: Capture) -> None:
    assert main(["batch", "generate", "pbs", "--role", "secondary", "--db", db_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if not line.startswith("#")] == MANUAL["secondary"]


def test_generate_to_a_file(db_url: str, tmp_path: Path, capsys: Capture) -> None:
    (tmp_path / "etc").mkdir()
    out = tmp_path / "etc" / "pbs.conf"
    assert main(["batch", "generate", "pbs", "--role", "compute", "--db", db_url,
                 "--output", str(out)]) == 0
    assert "PBS_START_MOM=1" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert capsys.readouterr() == ("", f"wrote {out}\n")
    hosts = tmp_path / "etc" / "hosts"
    assert main(["batch", "generate", "lsf-hosts", "--virtual-name", "ns", "--db", db_url,
                 "-o", str(hosts)]) == 0
    assert "198.51.100.65 ns\n198.51.100.1 ns0\n198.51.100.13 ns13\n" in hosts.read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["hosts", "pbs.conf"]  # no .tmp


def test_nothing_is_written_on_error(db_url: str, tmp_path: Path, capsys: Capture) -> None:
    out = tmp_path / "pbs.conf"
    out.write_text("kept\n")
    assert main(["batch", "generate", "pbs", "--role", "primary", "--db", db_url,
                 "--cell", "nope", "-o", str(out)]) == 1
    assert capsys.readouterr().err == "tandem: error: no cell 'nope' in the inventory\n"
    assert main(["batch", "generate", "lsf-hosts", "--virtual-name", "ns0", "--db", db_url,
                 "-o", str(out)]) == 1
    assert "the same name" in capsys.readouterr().err
    assert out.read_text() == "kept\n"
    assert main(["batch", "generate", "pbs", "--role", "primary", "--db", db_url,
                 "-o", str(tmp_path / "absent" / "pbs.conf")]) == 1
    assert "absent/pbs.conf: cannot write" in capsys.readouterr().err


def test_generate_for_a_named_pair(db_url: str, capsys: Capture) -> None:
    assert main(["batch", "generate", "pbs", "--role", "login", "--db", db_url,
                 "--primary", "ns13", "--secondary", "ns0"]) == 0
    assert "PBS_PRIMARY=ns13\nPBS_SECONDARY=ns0\n" in capsys.readouterr().out
    assert main(["batch", "generate", "pbs", "--role", "login", "--db", db_url,
                 "--primary", "ns13"]) == 2
    assert "give both --primary NODE and --secondary NODE" in capsys.readouterr().err


def test_no_inventory(tmp_path: Path, capsys: Capture) -> None:
    assert main(["batch", "generate", "pbs", "--role", "login", "--db",
                 f"sqlite:///{tmp_path}/none.db"]) == 1
    assert "no inventory database at" in capsys.readouterr().err
