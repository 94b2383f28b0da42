"""ml_ci.atomic's file writes: the one place that writes a file whole or not at all."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ml_ci.atomic import write_json, write_text


def test_write_text_makes_the_folders_and_an_ordinary_readable_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "w.yml"
    write_text(target, "one\ntwo\n")
    assert target.read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["w.yml"]


def test_write_text_takes_another_mode(tmp_path: Path) -> None:
    write_text(tmp_path / "private.json", "{}\n", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600


def test_write_text_replaces_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "w.yml"
    target.write_text("old\n", encoding="utf-8")
    write_text(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"


def test_write_text_leaves_the_old_file_and_no_temporary_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "w.yml"
    target.write_text("old\n")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["w.yml"]


def test_write_json_is_indented_in_key_order_with_a_final_newline(tmp_path: Path) -> None:
    data = {"z": 1, "a": [1, 2], "é": "ü"}
    write_json(tmp_path / "x.json", data)
    text = (tmp_path / "x.json").read_text(encoding="utf-8")
    # What every stage's JSON artifact looked like before the copies were merged: json.dump(indent=2) + "\n".
    assert text == json.dumps(data, indent=2) + "\n"
    assert text.startswith('{\n  "z": 1,')
