"""The CLI entry point: each command loads only its own module, every command is mapped
to the module that registers it, and errors reach the operator as one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from tandem.cli.main import COMMAND_MODULES, build_parser, main


def commands(parser: argparse.ArgumentParser) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_every_registered_command_is_mapped_to_its_module() -> None:
    assert commands(build_parser()) == set(COMMAND_MODULES)
    for command in COMMAND_MODULES:
        assert command in commands(build_parser(command))


def test_status_does_not_import_the_lab_agents_or_pyroute2() -> None:
    probe = ("import sys\nfrom tandem.cli.main import build_parser\n"
             "build_parser('status').parse_args(['status', '--json'])\n"
             "print(sorted(m for m in sys.modules if m.startswith(('pyroute2', 'rich', "
             "'tandem.lab', 'tandem.resources'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_bad_config_is_one_line_naming_the_file(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "cell.toml"
    bad.write_text("[cluster]\nname = 3\n")
    assert main(["config", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tandem: error: ") and str(bad) in err and err.count("\n") == 1


def test_unknown_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["stauts"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
