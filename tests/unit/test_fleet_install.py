"""The node's side of a push (`tandem config install --stdin`): what it installs, what
it refuses with one line and nothing changed, and that the key never shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fleetkit import EXAMPLE_SITE

from tandem.common.errors import TandemError
from tandem.config import ConfigError
from tandem.fleet.install import InstallRefused, NodeFiles, install
from tandem.fleet.payload import Payload, PayloadError, decode_payload, make_payload

TEXT = (EXAMPLE_SITE / "io12.toml").read_text()
KEY = bytes(range(32))
KEY_HEX = KEY.hex()


class Daemon:
    """A pretend tandemd: a running version (None: stopped) and what it was pushed."""

    def __init__(self, version: int | None = None, refuse: str = "",
                 then_version: int | None = None) -> None:
        self.version = version
        self.pushed: list[str] = []
        self.refuse = refuse
        self.then_version = then_version

    def running_version(self) -> int | None:
        return self.version

    def push(self, text: str) -> None:
        if self.refuse:
            self.version = self.then_version
            raise TandemError(self.refuse)
        self.pushed.append(text)


@pytest.fixture()
def files(tmp_path: Path) -> NodeFiles:
    return NodeFiles(config=tmp_path / "etc/tandem/cluster.toml", root=tmp_path)


def key_file(files: NodeFiles) -> Path:
    return files.root / "etc/tandem/cluster.key"


def payload(text: str = TEXT, key: bytes | None = KEY) -> Payload:
    return decode_payload(make_payload("io12", text, key).encode())


def snapshot(files: NodeFiles) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in files.root.rglob("*") if p.is_file()}


def test_a_blank_node_gets_its_configuration_and_key(files: NodeFiles) -> None:
    said = install(payload(), "io1", files, Daemon())
    assert said == "io12 version 1 installed (tandemd not running); key installed"
    assert files.config.read_text() == TEXT
    assert key_file(files).read_text() == KEY_HEX + "\n"
    assert key_file(files).stat().st_mode & 0o777 == 0o600
    again = install(payload(), "io2", files, Daemon())
    assert again == "io12 version 1 already in place; key unchanged"


def test_a_running_daemon_loads_a_newer_version(files: NodeFiles) -> None:
    install(payload(), "io1", files, Daemon())
    newer = TEXT.replace("config_version = 1", "config_version = 2")
    daemon = Daemon(version=1)
    assert install(payload(newer), "io1", files, daemon) == \
        "io12 version 2 loaded by tandemd; key unchanged"
    assert daemon.pushed == [newer]
    # A peer passed it on while our push was on its way: no failure.
    late = Daemon(version=1, refuse="config_version 2 is not newer", then_version=2)
    assert install(payload(newer, None), "io2", files, late) == \
        "io12 version 2 loaded by tandemd (a peer passed it on first)"
    stuck = Daemon(version=1, refuse="nodes: changing it needs a restart", then_version=1)
    with pytest.raises(TandemError, match="needs a restart"):
        install(payload(newer, None), "io2", files, stuck)


@pytest.mark.parametrize(("make", "problem"), [
    (lambda: payload(TEXT.replace("config_version = 1", "config_version = 1\n# x")),
     "this node has version 1 with other content"),
    (lambda: payload(TEXT.replace("id = 2", "id = 1")), "node id 1 is used twice"),
    (lambda: decode_payload(make_payload("io34", TEXT, None).encode()),
     "the configuration is for cell io12, not io34"),
])
def test_refusals_change_nothing(files: NodeFiles, make: Callable[[], Payload],
                                 problem: str) -> None:
    install(payload(), "io1", files, Daemon())
    before = snapshot(files)
    with pytest.raises((InstallRefused, ConfigError), match=problem) as caught:
        install(make(), "io1", files, Daemon())
    assert "\n" not in str(caught.value) and KEY_HEX not in str(caught.value)
    assert snapshot(files) == before


def test_an_older_version_and_a_stranger_are_refused(files: NodeFiles) -> None:
    newer = TEXT.replace("config_version = 1", "config_version = 3")
    install(payload(newer), "io1", files, Daemon())
    before = snapshot(files)
    with pytest.raises(InstallRefused, match="has version 3, newer than the pushed "
                                             "version 1"):
        install(payload(), "io1", files, Daemon())
    with pytest.raises(InstallRefused, match=r"this node \(io7\) is not a member of cell "
                                             r"io12 \(io1, io2\)"):
        install(payload(newer), "io7", files, Daemon())
    with pytest.raises(InstallRefused, match="has version 2, newer than the pushed"):
        install(payload(), "io1", files, Daemon(version=2))
    assert snapshot(files) == before


def test_a_new_key_under_a_running_daemon_is_refused(files: NodeFiles) -> None:
    install(payload(), "io1", files, Daemon())
    before = snapshot(files)
    newer = TEXT.replace("config_version = 1", "config_version = 2")
    with pytest.raises(InstallRefused, match=r"the cluster key sent differs from .*"
                                             r"stop it here first"):
        install(payload(newer, bytes(32)), "io1", files, Daemon(version=1))
    assert snapshot(files) == before


def test_a_broken_installed_file_is_replaced(files: NodeFiles) -> None:
    files.config.parent.mkdir(parents=True)
    files.config.write_text("[cluster\n")
    assert install(payload(TEXT, None), "io1", files, Daemon()) == \
        "io12 version 1 installed (tandemd not running)"
    assert files.config.read_text() == TEXT
    assert files.config.with_suffix(".toml.prev").read_text() == "[cluster\n"


def test_damaged_or_foreign_payloads_are_refused_without_quoting_them() -> None:
    good = json.loads(make_payload("io12", TEXT, KEY).encode())
    damaged = dict(good, config=TEXT + "#")
    for data, problem in [
        (b"not json " + KEY_HEX.encode(), "is not the JSON"),
        (json.dumps(damaged).encode(), "does not match its sha256"),
        (json.dumps(dict(good, format=9)).encode(), "not of format 1"),
        (json.dumps(dict(good, key="zz")).encode(), "not 64 hex digits"),
        (json.dumps({"format": 1, "key": KEY_HEX}).encode(), "lacks its cell"),
    ]:
        with pytest.raises(PayloadError, match=problem) as caught:
            decode_payload(data)
        assert KEY_HEX not in str(caught.value)
    assert KEY_HEX not in repr(decode_payload(json.dumps(good).encode()))
