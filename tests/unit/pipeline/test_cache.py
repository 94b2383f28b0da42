"""The stage cache: keys on content, atomic entries, corruption is a miss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.atomic import staged_dir
from ml_ci.cache import StageCache, cache_key, folder_digest


def _artifact(folder: Path, text: str = "weights") -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.safetensors").write_text(text)
    (folder / "metrics.json").write_text('{"accuracy": 0.9}')
    return folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_key_is_canonical_and_covers_stage_version_and_inputs() -> None:
    key = cache_key("train", {"a": 1, "b": [1, 2]})
    assert key == cache_key("train", {"b": (1, 2), "a": 1})
    assert (
        len(
            {
                key,
                cache_key("tune", {"a": 1, "b": [1, 2]}),
                cache_key("train", {"a": 2, "b": [1, 2]}),
                cache_key("train", {"a": 1, "b": [1, 2]}, version="9.9.9"),
            }
        )
        == 4
    )


def test_store_then_restore_gives_identical_files(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    source = _artifact(tmp_path / "out")
    cache.store("train", "k1", source)
    dest = tmp_path / "restored"
    assert cache.restore("train", "k1", dest)
    assert _tree(dest) == _tree(source)
    assert folder_digest(dest) == folder_digest(source)
    assert not cache.restore("train", "k2", tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_restore_replaces_an_older_artifact_whole(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")
    cache.store("train", "k", _artifact(tmp_path / "new", "new weights"))
    dest = _artifact(tmp_path / "dest", "old weights")
    (dest / "stale.txt").write_text("from an older run")
    assert cache.restore("train", "k", dest)
    assert _tree(dest) == _tree(tmp_path / "new")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # nothing left aside


@pytest.mark.parametrize("damage", ["edit", "delete", "extra", "manifest"])
def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path: Path, damage: str) -> None:
    cache = StageCache(tmp_path / "cache")
    entry = cache.store("train", "k", _artifact(tmp_path / "out"))
    files = entry / "files"
    if damage == "edit":
        (files / "model" / "model.safetensors").write_text("flipped")
    elif damage == "delete":
        (files / "metrics.json").unlink()
    elif damage == "extra":
        (files / "surprise.bin").write_text("x")
    else:
        (entry / "manifest.json").write_text("{truncated")
    assert cache.lookup("train", "k") is None
    assert not entry.exists()
    assert not cache.restore("train", "k", tmp_path / "dest")


def test_manifest_records_the_key_and_each_file_hash(tmp_path: Path) -> None:
    entry = StageCache(tmp_path / "cache").store("train", "abc", _artifact(tmp_path / "out"), meta={"stage_seconds": 3})
    manifest = json.loads((entry / "manifest.json").read_text())
    assert (manifest["key"], manifest["stage"], sorted(manifest["files"]), manifest["meta"]) == (
        "abc",
        "train",
        ["metrics.json", "model/model.safetensors"],
        {"stage_seconds": 3},
    )


def test_staged_dir_leaves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    dest = _artifact(tmp_path / "dest", "good")
    with pytest.raises(RuntimeError), staged_dir(dest) as tmp:
        (tmp / "half.bin").write_text("half")
        raise RuntimeError("killed")
    assert _tree(dest) == {"metrics.json": b'{"accuracy": 0.9}', "model/model.safetensors": b"good"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]
