"""tandemd refuses to start on a bad configuration or key, with one clear line.

Each daemon runs in an empty network namespace of its own (`unshare --net`), so even a
daemon that got further than it should could not send anything anywhere.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from labkit import cell_config

pytestmark = pytest.mark.lab


def start(tmp_path: Path, config_text: str, key: str | None, mode: int = 0o600
          ) -> subprocess.CompletedProcess[str]:
    key_path = tmp_path / "cluster.key"
    if key is not None:
        key_path.write_text(key)
        key_path.chmod(mode)
    config = tmp_path / "cell.toml"
    config.write_text(config_text.replace("/etc/tandem/cluster.key", str(key_path)))
    return subprocess.run(["unshare", "--net", "tandemd", "--config", str(config), "--node",
                           "node1", "--log-file", "", "--no-realtime"],
                          capture_output=True, text=True, timeout=30)


GOOD_KEY = "ab" * 32 + "\n"


def test_missing_key(tmp_path: Path) -> None:
    result = start(tmp_path, cell_config("k"), None)
    assert result.returncode == 1
    assert "cluster.key" in result.stderr and "Traceback" not in result.stderr


def test_world_readable_key(tmp_path: Path) -> None:
    result = start(tmp_path, cell_config("k"), GOOD_KEY, mode=0o644)
    assert result.returncode == 1
    assert "cluster.key" in result.stderr and "Traceback" not in result.stderr


def test_duplicate_node_id(tmp_path: Path) -> None:
    result = start(tmp_path, cell_config("k").replace("id = 2", "id = 1"), GOOD_KEY)
    assert result.returncode == 2
    assert "node id 1 is used twice" in result.stderr


def test_unknown_local_node(tmp_path: Path) -> None:
    text = cell_config("k").replace('name = "node1"', 'name = "alpha"')
    result = start(tmp_path, text, GOOD_KEY)
    assert result.returncode == 2 and "unknown node 'node1'" in result.stderr
