"""`tandem lab` from the command line: the happy path, bad input and cleanup."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labkit import cell_config, lab_inodes, leftovers, unique_lab_name
from tandem.lab.names import LabNames

pytestmark = pytest.mark.lab


def tandem(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    return subprocess.run([*prefix, "tandem", *args], capture_output=True, text=True,
                          timeout=120)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("...")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_round_trip(tmp_path: Path) -> None:
    name = unique_lab_name("cli")
    config = tmp_path / "cell.toml"
    config.write_text(cell_config(name))
    up = tandem("lab", "up", "--config", str(config), "--start")
    try:
        assert up.returncode == 0, up.stderr
        inodes = lab_inodes(name)
        assert name in json.loads(tandem("lab", "list", "--json").stdout)["labs"]
        again = tandem("lab", "up", "--config", str(config))
        assert "already exists" in one_line_error(again)
        status = json.loads(tandem("lab", "status", "--lab", name, "--json").stdout)
        node = status["nodes"][0]
        assert {"name", "power", "addresses", "bmc", "mounts"} <= set(node)
        assert node["addresses"]["admin"] == "198.51.100.11/24"
        assert node["bmc"] == {"address": "198.51.100.101", "port": 623, "user": "admin",
                               "running": True}
        assert status["disks"] == [{"name": "shared", "path": "/dev/tandem/shared",
                                    "loop": status["disks"][0]["loop"],
                                    "file": status["disks"][0]["file"],
                                    "size_bytes": 64 << 20, "format": "ext4"}]
        ran = tandem("lab", "exec", "--lab", name, "node2", "--", "hostname")
        assert ran.stdout.strip() == "node2"
        failed = tandem("lab", "exec", "--lab", name, "node2", "--", "sh", "-c", "exit 3")
        assert failed.returncode == 3
        assert "unknown node" in one_line_error(tandem("lab", "crash", "--lab", name, "nodeX"))
        power = tandem("lab", "power", "--lab", name, "node2", "off")
        assert power.returncode == 0 and "off" in power.stdout.lower(), power.stderr
        status = json.loads(tandem("lab", "status", "--lab", name, "--json").stdout)
        assert status["nodes"][1]["power"] == "off"
        assert tandem("lab", "power", "--lab", name, "node2", "on").returncode == 0
        watch = tandem("lab", "watch", "--lab", name, "--duration", "0.5")
        assert watch.returncode == 0
        assert json.loads(watch.stdout.splitlines()[-1])["violations"] == 0
    finally:
        down = tandem("lab", "down", name)
    assert down.returncode == 0, down.stderr
    assert leftovers(name, inodes) == []


def test_usage_errors_print_usage_not_traceback() -> None:
    result = tandem("lab", "netem", "node1", "--net", "admin", "--loss", "150")
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr
    result = tandem("lab")
    assert result.returncode == 2 and "usage:" in result.stderr


def test_bad_configs_are_refused_before_anything_is_built(tmp_path: Path) -> None:
    name = unique_lab_name("bad")
    no_size = tmp_path / "nosize.toml"
    no_size.write_text(cell_config(name, disks='[ { name = "shared" } ]'))
    message = one_line_error(tandem("lab", "up", "--config", str(no_size)))
    assert str(no_size) in message and "lab.disks[0].size" in message
    outside = tmp_path / "bmc.toml"
    outside.write_text(cell_config(name).replace("198.51.100.101", "203.0.114.1"))
    assert "BMC address" in one_line_error(tandem("lab", "up", "--config", str(outside)))
    assert not LabNames(name).directory.exists()


def test_failure_mid_build_leaves_nothing(tmp_path: Path) -> None:
    """A private directory that cannot be created fails `up` after namespaces, bridges
    and disks exist: all of them must be removed again."""
    name = unique_lab_name("half")
    config = tmp_path / "half.toml"
    config.write_text(cell_config(name, private_dirs='["/etc/hostname/impossible"]'))
    result = tandem("lab", "up", "--config", str(config))
    one_line_error(result)
    assert leftovers(name, set()) == []
    assert not Path("/dev/tandem").exists() or not any(Path("/dev/tandem").iterdir())


def test_requires_root(tmp_path: Path) -> None:
    config = tmp_path / "cell.toml"
    config.write_text(cell_config(unique_lab_name("root")))
    config.chmod(0o644)
    tmp_path.chmod(0o755)
    message = one_line_error(tandem("lab", "up", "--config", str(config), user="65534"))
    assert "root" in message
