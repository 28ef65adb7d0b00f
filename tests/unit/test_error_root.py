"""One exception root: every error tandem defines is a TandemError, and each entry point
turns one into `PROG: error: MESSAGE` (one line) and the error's exit code; any other
exception is a bug and keeps its traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import tandem
from tandem.cli import compat, status_cmd
from tandem.cli.client import ControlError
from tandem.cli.common import UsageError
from tandem.cli.main import main
from tandem.common.errors import EXIT_FAILED, EXIT_USAGE, TandemError
from tandem.config.errors import ConfigError
from tandem.fencing.base import FenceError
from tandem.fencing.history import FenceHistoryError
from tandem.fleet.errors import SelectionError
from tandem.hpc.lustre.migrate_run import MigrateError
from tandem.hpc.mgmt.datafile import LineError
from tandem.hpc.mgmt.errors import CheckFailed, DataError, MgmtError, UsageProblem
from tandem.hpc.nfs.haionfs import HaionfsError
from tandem.hpc.nfs.service import NfsServiceError
from tandem.lab.proc import LabError
from tandem.membership.detector import MembershipError
from tandem.resources.addrs import AddressError
from tandem.resources.base import ParamError
from tandem.resources.runner import ArgumentError
from tandem.util.procrun import CommandError
from tandem.wire.errors import WireError

# The roots the CLI once listed by hand, and the others (the quorum disk's QdiskError,
# in a package that is moving, is found by the scan like any new error).
ROOTS = [CommandError, MgmtError, LineError, ConfigError, MembershipError, LabError,
         UsageError, ControlError, AddressError, ParamError, ArgumentError, WireError,
         FenceHistoryError, FenceError]


def defined_exceptions() -> list[type[BaseException]]:
    """Every exception class defined anywhere in the package."""
    found = []
    for info in pkgutil.walk_packages(tandem.__path__, "tandem."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [obj for obj in vars(module).values()
                  if inspect.isclass(obj) and issubclass(obj, BaseException)
                  and obj.__module__ == module.__name__]
    return found


def test_every_error_defined_in_tandem_is_a_tandem_error() -> None:
    assert set(ROOTS) <= set(defined_exceptions())  # the scan does see them
    strays = [f"{e.__module__}.{e.__qualname__}" for e in defined_exceptions()
              if not issubclass(e, TandemError)]
    assert strays == []


def test_errors_that_were_value_errors_still_are() -> None:
    for error in (LineError, ParamError, ArgumentError):
        assert issubclass(error, ValueError) and issubclass(error, TandemError)


def test_exit_codes_usage_and_bad_input_are_2_the_rest_1() -> None:
    usage = {UsageError, ArgumentError, DataError, UsageProblem, SelectionError,
             HaionfsError, NfsServiceError, MigrateError}
    for error in defined_exceptions():
        assert issubclass(error, TandemError)
        assert error.exit_code == (EXIT_USAGE if error in usage else EXIT_FAILED), error
    assert CheckFailed.exit_code == EXIT_FAILED


def test_a_message_is_one_line() -> None:
    assert str(LabError("node1 failed to boot:\n  line one\n\n  line two\n")) == \
        "node1 failed to boot: | line one | line two"
    assert str(ConfigError("cell.toml", "nodes[0].id", "expected an integer")) == \
        "cell.toml: nodes[0].id: expected an integer"


def _raising(exc: BaseException) -> object:
    def call(*_: object, **__: object) -> object:
        raise exc
    return call


@pytest.mark.parametrize(("error", "code"), [
    (ControlError("tandemd is not running on this node"), 1),
    (LabError("first line\nsecond line"), 1),
    (UsageError("usage: tandem status"), 2),
    (DataError("/etc/HA/mnttab:3: bad line"), 2),
])
def test_main_maps_an_error_to_its_code_and_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: TandemError, code: int) -> None:
    monkeypatch.setattr(status_cmd, "cell_status", _raising(error))
    assert main(["status"]) == code
    captured = capsys.readouterr()
    assert captured.err == f"tandem: error: {error}\n" and "\n" not in str(error)
    assert captured.out == ""


def test_any_other_exception_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_cmd, "cell_status", _raising(KeyError("a bug")))
    with pytest.raises(KeyError):
        main(["status"])


def test_a_real_error_from_the_control_socket(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    monkeypatch.setenv("TANDEM_SOCKET", str(tmp_path / "none.sock"))
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tandem: error: tandemd is not running") and err.count("\n") == 1


def test_the_compat_commands_use_the_same_mapping(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("TANDEM_SOCKET", str(tmp_path / "none.sock"))
    assert compat.clustat_main([]) == 1
    assert capsys.readouterr().err.startswith("clustat: error: tandemd is not running")
    assert compat.clustat_main(["-Q"]) == 2  # -Q: 0 quorate, 1 not, 2 no answer
    assert capsys.readouterr().err == ""
    assert compat.clusvcadm_main(["-e", "web"]) == 1
    assert capsys.readouterr().err.startswith("clusvcadm: error: tandemd is not running")
