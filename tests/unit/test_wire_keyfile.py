"""Key file creation and loading: modes, refusal to overwrite, malformed contents."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tandem.wire import KeyFileError, generate_key, load_key


def test_generated_key_is_private_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "cluster.key"
    generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_key(path)
    assert len(key) == 32
    assert path.read_text().strip() == key.hex()


def test_keys_are_random(tmp_path: Path) -> None:
    generate_key(tmp_path / "a")
    generate_key(tmp_path / "b")
    assert load_key(tmp_path / "a") != load_key(tmp_path / "b")


def test_generate_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "cluster.key"
    generate_key(path)
    first = load_key(path)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key(path)
    assert load_key(path) == first
    generate_key(path, force=True)
    assert load_key(path) != first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.key"]


def test_generate_is_never_readable_by_others_even_with_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        generate_key(tmp_path / "k")
        generate_key(tmp_path / "k", force=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_generate_into_missing_directory_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "cluster.key"
    with pytest.raises(KeyFileError) as info:
        generate_key(path)
    assert str(path) in str(info.value)


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("text", "mode", "problem"), [
    ("", 0o600, "is empty"),
    ("\n  \n", 0o600, "is empty"),
    ("zz" * 32 + "\n", 0o600, "not hex"),
    ("ab" * 16 + "\n", 0o600, "expected 64 hex digits"),
    ("ab" * 33 + "\n", 0o600, "expected 64 hex digits"),
    ("ab " * 21 + "a\n", 0o600, "not hex"),
    ("ab" * 32 + "\n", 0o640, "group or others"),
    ("ab" * 32 + "\n", 0o604, "group or others"),
    ("ab" * 32 + "\n", 0o620, "group or others"),
])
def test_load_rejects(tmp_path: Path, text: str, mode: int, problem: str) -> None:
    path = _write(tmp_path / "cluster.key", text, mode)
    with pytest.raises(KeyFileError, match=problem) as info:
        load_key(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message


def test_load_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no such key file"):
        load_key(tmp_path / "missing.key")
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(tmp_path)


def test_load_judges_the_target_of_a_symlink(tmp_path: Path) -> None:
    real = _write(tmp_path / "real.key", "ab" * 32 + "\n")
    link = tmp_path / "link.key"
    link.symlink_to(real)
    assert load_key(link) == bytes([0xAB]) * 32
    real.chmod(0o644)
    with pytest.raises(KeyFileError, match="group or others"):
        load_key(link)


def test_load_accepts_surrounding_whitespace(tmp_path: Path) -> None:
    path = _write(tmp_path / "k", "  " + "0f" * 32 + "  \n")
    assert load_key(path) == bytes([0x0F]) * 32
