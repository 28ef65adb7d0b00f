"""Domain sections: a domain registers its top-level section by name -> module, the
loader reads it only through that map (so `tandem.config` imports no domain), unknown
sections are still refused, and the quorum disk is one such section."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from labkit import cell_config
from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.config import sections as registry
from tandem.config.reader import Section
from tandem.config.sections import SectionKind, section_kind
from tandem.config.writer import config_text
from tandem.quorum.qdisk.config import QdiskDef

SRC = Path(__file__).parents[2] / "src" / "tandem"


# -- a throw-away domain, registered the way [lustre], [nfs] or [batch] will be -----------
@dataclass(frozen=True)
class BatchDef:
    """The test's own section: `[batch] system = "slurm", controllers = [...]`."""

    system: str
    controllers: tuple[str, ...] = ()


def read_batch(sec: Section) -> BatchDef:
    sec.only("system", "controllers")
    return BatchDef(sec.req_string("system"), tuple(sec.strings("controllers")))


def check_batch(config: ClusterConfig) -> None:
    batch = config.section(BatchDef)
    nodes = {n.name for n in config.nodes}
    for i, name in enumerate(batch.controllers if batch else ()):
        if name not in nodes:
            raise ConfigError(config.source, f"batch.controllers[{i}]", f"unknown node {name!r}")


SECTION = SectionKind("batch", BatchDef, read=read_batch,
                      write=lambda b: {"system": b.system, "controllers": list(b.controllers)},
                      check=check_batch)


@pytest.fixture()
def batch_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new domain adds to the map (here: this module)."""
    monkeypatch.setitem(registry.SECTION_MODULES, "batch", __name__)


BATCH = '[batch]\nsystem = "slurm"\ncontrollers = ["node2"]\n'


def test_a_registered_section_is_read_into_its_model(batch_domain: None) -> None:
    config = parse_config(cell_config("b", extra=BATCH))
    assert config.section(BatchDef) == BatchDef("slurm", ("node2",))
    assert config.section(QdiskDef) is None
    assert config.two_node  # a section without votes leaves two-node mode as it was


def test_a_registered_section_is_written_back_by_its_domain(batch_domain: None) -> None:
    config = parse_config(cell_config("b", extra=BATCH), "b.toml")
    text = config_text(config)
    assert '[batch]\nsystem = "slurm"\ncontrollers = ["node2"]\n' in text
    assert parse_config(text, "b.toml") == config


def test_a_registered_section_is_checked_against_the_cell(batch_domain: None) -> None:
    with pytest.raises(ConfigError, match=r"^b.toml: batch.controllers\[0\]: unknown node "
                                          r"'node9'$"):
        parse_config(cell_config("b", extra=BATCH.replace("node2", "node9")), "b.toml")
    with pytest.raises(ConfigError, match=r"^b.toml: batch.colour: unknown key"):
        parse_config(cell_config("b", extra=BATCH + 'colour = "red"\n'), "b.toml")


def test_an_unregistered_section_is_refused_naming_file_and_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(cell_config("b", extra=BATCH), "cell.toml")
    assert str(caught.value).startswith("cell.toml: batch: unknown key (allowed here: ")
    assert "qdisk" in str(caught.value) and "\n" not in str(caught.value)


def test_a_module_without_its_section_kind_is_a_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.SECTION_MODULES, "nfs", "tandem.config.errors")
    with pytest.raises(ImportError, match=r"tandem.config.errors does not define SECTION"):
        section_kind("nfs")


def test_the_quorum_disk_is_a_registered_section() -> None:
    kind = section_kind("qdisk")
    assert kind.model is QdiskDef and kind.check is not None and kind.votes is not None
    disk = '[qdisk]\ndevice = "/dev/tandem/qd"\nvotes = 2\n'
    config = parse_config(cell_config("q", extra=disk))
    assert not config.two_node and config.total_votes == 4  # a quorum device: no two_node
    ids = cell_config("q", extra=disk).replace("id = 2", "id = 17")
    with pytest.raises(ConfigError, match=r"qdisk: a quorum disk has slots for node ids "
                                          r"1..16; ids \[17\] do not fit"):
        parse_config(ids)


# -- no cycle between config and quorum --------------------------------------------------
def _imports(package: str, *, module_level_only: bool) -> dict[str, set[str]]:
    """Module file -> the modules it imports (every import, or only those run when the
    module is imported, i.e. outside functions and `if TYPE_CHECKING:`)."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = (_top_level(tree.body) if module_level_only else ast.walk(tree))
        names = found.setdefault(str(path.relative_to(SRC)), set())
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return found


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    kept: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            kept.append(stmt)
        elif isinstance(stmt, (ast.If, ast.Try)) and "TYPE_CHECKING" not in ast.unparse(stmt):
            kept.extend(_top_level(stmt.body))
    return kept


def test_config_imports_no_domain_not_even_lazily() -> None:
    for module, names in _imports("config", module_level_only=False).items():
        domains = {n for n in names if n.startswith(("tandem.quorum", "tandem.hpc"))}
        assert not domains, f"{module} imports {sorted(domains)}"


def test_quorum_does_not_import_the_loader() -> None:
    for module, names in _imports("quorum", module_level_only=True).items():
        assert "tandem.config.loader" not in names, module
        assert not {n for n in names if n.startswith("tandem.daemon")}, module


def test_importing_config_loads_no_quorum_module() -> None:
    code = ("import sys, tandem.config\n"
            "print(sorted(m for m in sys.modules if m.startswith('tandem.quorum')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_the_quorum_disk_section_imports_cleanly_first() -> None:
    """Importing the domain before the configuration package works (no cycle)."""
    code = ("import tandem.quorum.qdisk.config as q, tandem.config.sections as s\n"
            "assert s.section_kind('qdisk') is q.SECTION\n"
            "import sys; assert 'tandem.quorum.qdisk.runner' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
