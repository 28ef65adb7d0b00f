"""Test-wide setup and the fixtures tests share.

`tests/` is importable for the shared helpers (labkit, bmckit, mgmtkit), and `bench/`
for the benchmarks' packages (benchlib, chaos), as the bench scripts see them. Lab
tests need root; they are not skipped without it (a skip would hide that they did not
run): the lab refuses with a one-line error and the test fails.

Fixtures:
- `lab` / `lab_with_daemons`: a two-node lab of the standard test topology (BMCs, the
  shared disk, a client), for one test, removed afterwards (and checked to leave
  nothing behind); the second one starts tandemd in each node at boot.
- `control`: a two-node lab without BMCs for a whole test module (the agent and
  toolkit tests), as its NodeControl. A module that prepares it further overrides
  `control` with a fixture of the same name that takes this one.
- `bmc_lab` / `bmc`: virtual BMCs alone in namespaces of the test's own (bmckit).
- `lines` / `ctx`: the management toolkit's context over a private tree under
  tmp_path, its output collected in `lines`. Modules override `ctx` for another node
  or peer.
- `postgres`: a PostgreSQL server for the whole session (pgserver), started the first
  time a test asks for it; the inventory tests run on it and on SQLite.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parent.parent / "bench"))

from bmckit import BmcHandle, BmcLab
from labkit import node_lab, stem_of, two_node_lab
from pgserver import PostgresServer
from tandem.hpc.mgmt.context import MgmtContext
from tandem.lab.nodes import NodeControl
from tandem.lab.state import LabRecord

BMC_ADDRESS = "198.51.100.101"


@pytest.fixture()
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LabRecord]:
    with two_node_lab(tmp_path, stem_of(request), start=False) as record:
        yield record


@pytest.fixture()
def lab_with_daemons(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LabRecord]:
    with two_node_lab(tmp_path, stem_of(request), start=True) as record:
        yield record


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[NodeControl]:
    stem = stem_of(request)
    with node_lab(tmp_path_factory.mktemp(stem), stem, bmc=False) as made:
        yield made


@pytest.fixture()
def bmc_lab(tmp_path: Path) -> Iterator[BmcLab]:
    with BmcLab(tmp_path) as built:
        yield built


@pytest.fixture()
def bmc(bmc_lab: BmcLab) -> BmcHandle:
    """One BMC, powered on, at 198.51.100.101."""
    return bmc_lab.start_bmc(BMC_ADDRESS)


@pytest.fixture()
def lines() -> list[str]:
    return []


@pytest.fixture()
def ctx(tmp_path: Path, lines: list[str]) -> MgmtContext:
    """We are ns0; every path the toolkit touches is under tmp_path."""
    return MgmtContext.under(tmp_path, node="ns0", out=lines.append)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server
