"""The proposed [qdisk] section: defaults, heuristics, and one-line errors."""

from __future__ import annotations

import tomllib

import pytest

from tandem.config import ConfigError
from tandem.config.reader import Section
from tandem.quorum.qdisk.config import QdiskDef, read_qdisk_section
from tandem.quorum.qdisk.heuristics import Heuristic


def qdisk(text: str) -> QdiskDef:
    data = tomllib.loads(text)
    section = Section(data, "cell.toml").table("qdisk", required=True)
    assert section is not None
    return read_qdisk_section(section)


def test_defaults() -> None:
    got = qdisk('[qdisk]\ndevice = "/dev/tandem/qd"\n')
    assert got == QdiskDef(device="/dev/tandem/qd")
    assert (got.interval_s, got.tko_s, got.io_budget_s) == (0.1, 0.5, 0.25)
    assert got.master_wins and got.votes == 1


def test_full_section() -> None:
    got = qdisk('''
[qdisk]
device = "/dev/tandem/qd"
label = "cell2-qd"
interval_ms = 500
tko = 6
votes = 2
master_wins = false
min_score = 2
stop_wait_ms = 30000

[[qdisk.heuristics]]
command = ["ping", "-c1", "-W1", "198.51.100.1"]
score = 2
interval_ms = 3000
timeout_ms = 1500
tko = 3

[[qdisk.heuristics]]
command = ["true"]
''')
    assert (got.label, got.interval_ms, got.tko, got.votes, got.master_wins,
            got.min_score, got.stop_wait_s) == ("cell2-qd", 500, 6, 2, False, 2, 30.0)
    assert got.heuristics == (
        Heuristic(("ping", "-c1", "-W1", "198.51.100.1"), score=2, interval_s=3.0,
                  timeout_s=1.5, tko=3),
        Heuristic(("true",), score=1, interval_s=2.0, timeout_s=1.0, tko=1))


@pytest.mark.parametrize(("body", "message"), [
    ('label = "x"', "qdisk.device: is required but missing"),
    ('device = "dev/sdb"', "qdisk.device: expected an absolute path"),
    ('device = "/d"\ntko = 2', "qdisk.tko: expected an integer >= 3"),
    ('device = "/d"\ninterval = 3', "qdisk.interval: unknown key"),
    ('device = "/d"\nlabel = "' + "x" * 65 + '"', "qdisk.label: at most 64 bytes"),
    ('device = "/d"\nheuristics = [{ command = "ping gw" }]',
     "qdisk.heuristics[0].command: expected an array of arguments"),
    ('device = "/d"\nheuristics = [{ score = 1 }]',
     "qdisk.heuristics[0].command: is required"),
    ('device = "/d"\nheuristics = [{ command = ["true"], timeout_ms = 5000 }]',
     "qdisk.heuristics[0].timeout_ms: must not exceed interval_ms (2000)"),
    ('device = "/d"\nmin_score = 2\nheuristics = [{ command = ["true"] }]',
     "qdisk.min_score: 2 can never be reached"),
    ('device = "/d"\nstop_wait_ms = -1', "qdisk.stop_wait_ms: expected an integer >= 0"),
])
def test_errors_name_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        qdisk(f"[qdisk]\n{body}\n")
    assert message in str(err.value)
    assert "\n" not in str(err.value)
