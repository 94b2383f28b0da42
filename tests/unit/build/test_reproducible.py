"""The image normalization without Docker: layers and configs that differ only by clock and machine
become the same bytes; anything that is content stays."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ml_ci.build.reproducible import normalize_config, normalize_layer, normalize_saved, rfc3339
from ml_ci.provenance import source_date_epoch
from tests.unit.build.test_plan import MODEL

EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z


def layer(path: Path, entries: list[tuple[str, bytes | None]], mtime: int, *, link: tuple[str, str] | None = None) -> Path:
    """A layer tar with entries in the given order (None: a directory), all stamped with mtime."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.pax_headers = {"atime": str(mtime), "ctime": str(mtime)}
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname, info.mtime = tarfile.LNKTYPE, link[1], mtime
            tar.addfile(info)
    return path


FILES: list[tuple[str, bytes | None]] = [
    ("opt", None),
    ("opt/venv", None),
    ("opt/venv/a.py", b"a = 1\n"),
    ("opt/venv/b.py", b"b = 2\n"),
]


def test_a_layer_rebuilt_later_in_another_order_is_the_same_layer(tmp_path: Path) -> None:
    one = layer(tmp_path / "1.tar", FILES, EPOCH + 100)
    two = layer(tmp_path / "2.tar", [FILES[1], FILES[0], FILES[3], FILES[2]], EPOCH + 5000)
    assert one.read_bytes() != two.read_bytes()
    assert normalize_layer(one, tmp_path / "1n.tar", EPOCH) == normalize_layer(two, tmp_path / "2n.tar", EPOCH)
    assert (tmp_path / "1n.tar").read_bytes() == (tmp_path / "2n.tar").read_bytes()
    with tarfile.open(tmp_path / "2n.tar") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["opt", "opt/venv", "opt/venv/a.py", "opt/venv/b.py"]
        assert {m.mtime for m in members} == {EPOCH}
        assert not any("atime" in m.pax_headers or "ctime" in m.pax_headers for m in members)
        assert tar.extractfile("opt/venv/b.py").read() == b"b = 2\n"  # type: ignore[union-attr]


def test_a_layer_from_the_cache_made_before_the_commit_is_the_same_layer_and_content_counts(tmp_path: Path) -> None:
    old = layer(tmp_path / "old.tar", FILES, EPOCH - 600)
    new = layer(tmp_path / "new.tar", FILES, EPOCH + 600)
    assert normalize_layer(old, tmp_path / "n.tar", EPOCH) == normalize_layer(new, tmp_path / "nn.tar", EPOCH)
    with tarfile.open(tmp_path / "n.tar") as tar:
        assert {m.mtime for m in tar.getmembers()} == {EPOCH}, "set, not clamped: a cached layer may predate the commit"
    changed = layer(tmp_path / "c.tar", [*FILES[:3], ("opt/venv/b.py", b"b = 3\n")], EPOCH)
    assert normalize_layer(changed, tmp_path / "cn.tar", EPOCH) != normalize_layer(old, tmp_path / "on.tar", EPOCH)


def test_a_hard_link_that_would_come_before_its_file_takes_its_place(tmp_path: Path) -> None:
    # "z" holds the data and "a" links to it: sorted, "a" comes first, so "a" gets the data.
    source = layer(tmp_path / "l.tar", [("z", b"data")], EPOCH, link=("a", "z"))
    normalize_layer(source, tmp_path / "ln.tar", EPOCH)
    with tarfile.open(tmp_path / "ln.tar") as tar:
        a, z = tar.getmembers()
        assert (a.name, a.isreg(), z.name, z.islnk(), z.linkname) == ("a", True, "z", True, "a")
        assert tar.extractfile(a).read() == b"data"  # type: ignore[union-attr]


BUILT: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2026-12-04T15:01:02.123456789Z",
    "docker_version": "20.10.24",
    "container": "4f1c0ffee",
    "container_config": {"Hostname": "4f1c0ffee", "Cmd": ["/bin/sh", "-c", "#(nop) LABEL"]},
    "config": {"Hostname": "", "Image": "sha256:" + "1" * 64, "Labels": {"a": "b"}, "User": "10001:10001"},
    "history": [
        {"created": "2025-06-01T00:00:00Z", "created_by": "import"},
        {"created": "2026-12-04T15:01:00.5Z", "created_by": "RUN pip install", "comment": "x"},
    ],
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]},
}


def test_the_config_keeps_content_and_loses_the_clock_and_the_machine() -> None:
    out = json.loads(normalize_config(BUILT, EPOCH, ["sha256:" + "a" * 64, "sha256:" + "c" * 64]))
    assert out["created"] == "2026-01-01T00:00:00Z"
    assert [h["created"] for h in out["history"]] == ["2026-01-01T00:00:00Z"] * 2
    assert [h["created_by"] for h in out["history"]] == ["import", "RUN pip install"]
    assert "container" not in out and "container_config" not in out and "docker_version" not in out
    assert out["config"] == {"Hostname": "", "Labels": {"a": "b"}, "User": "10001:10001"}
    assert out["rootfs"]["diff_ids"][1] == "sha256:" + "c" * 64


def test_two_builds_at_other_times_on_other_machines_give_the_same_config() -> None:
    later = {
        **BUILT,
        "created": "2026-12-05T09:00:00Z",
        "container": "beef",
        "docker_version": "24.0.0",
        "config": {**BUILT["config"], "Image": "sha256:" + "2" * 64},
        "history": [BUILT["history"][0], {**BUILT["history"][1], "created": "2026-12-05T08:59:00Z"}],
    }
    ids = ["sha256:" + "a" * 64]
    assert normalize_config(BUILT, EPOCH, ids) == normalize_config(later, EPOCH, ids)
    assert normalize_config(BUILT, EPOCH, ids) != normalize_config(BUILT, EPOCH + 1, ids)


def saved_archive(path: Path, layers: list[Path], config: dict[str, object]) -> Path:
    """What `docker save` writes (legacy layout): <id>/layer.tar, <config>.json, manifest.json."""
    with tarfile.open(path, "w") as tar:
        names = []
        for i, source in enumerate(layers):
            tar.add(source, arcname=f"l{i}/layer.tar")
            names.append(f"l{i}/layer.tar")
        data = json.dumps(config).encode()
        for name, blob in (("cfg.json", data), ("manifest.json", json.dumps([{"Config": "cfg.json", "Layers": names}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def test_a_saved_image_keeps_its_base_layers_and_normalizes_the_rest(tmp_path: Path) -> None:
    import hashlib

    base = layer(tmp_path / "base.tar", [("etc", None), ("etc/os-release", b"debian\n")], EPOCH + 99)
    base_id = "sha256:" + hashlib.sha256(base.read_bytes()).hexdigest()
    ids = {}
    for run, (mtime, order) in enumerate(((EPOCH + 10, FILES), (EPOCH + 999, list(reversed(FILES))))):
        ours = layer(tmp_path / f"ours{run}.tar", order, mtime)
        ours_id = "sha256:" + hashlib.sha256(ours.read_bytes()).hexdigest()
        config = {**BUILT, "rootfs": {"type": "layers", "diff_ids": [base_id, ours_id]}}
        saved = saved_archive(tmp_path / f"saved{run}.tar", [base, ours], config)
        result = normalize_saved(saved, tmp_path / f"work{run}", base_diff_ids=[base_id], epoch=EPOCH)
        assert result.rewritten == 1
        ids[run] = result.image_id
        with tarfile.open(result.archive) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
            assert manifest[0]["Layers"][0] == f"{base_id.split(':')[1]}.tar"
            layer0 = tar.extractfile(manifest[0]["Layers"][0])
            assert layer0 is not None and layer0.read() == base.read_bytes(), "the base is kept byte for byte"
            config_bytes = tar.extractfile(manifest[0]["Config"]).read()  # type: ignore[union-attr]
            assert "sha256:" + hashlib.sha256(config_bytes).hexdigest() == result.image_id
    assert ids[0] == ids[1]


@pytest.mark.parametrize(
    ("env", "commit", "fallback", "expected"),
    [
        ({"SOURCE_DATE_EPOCH": "1700000000"}, 1_600_000_000, 5, 1_700_000_000),
        ({}, 1_600_000_000, 5, 1_600_000_000),
        ({"SOURCE_DATE_EPOCH": ""}, None, 5, 5),
        ({}, None, None, 0),
    ],
)
def test_the_epoch_is_source_date_epoch_then_the_commit_never_the_clock(
    env: dict[str, str], commit: int | None, fallback: int | None, expected: int
) -> None:
    assert source_date_epoch(env, commit, fallback) == expected


def test_a_bad_source_date_epoch_is_named() -> None:
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH='yesterday' is not a number of seconds"):
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"}, None, None)


def test_rfc3339() -> None:
    assert rfc3339(EPOCH) == "2026-01-01T00:00:00Z"


def test_the_build_takes_the_commit_time_else_the_export_time() -> None:
    from ml_ci.build.stage import build_epoch
    from ml_ci.provenance import GitInfo

    model = replace(MODEL, exported_at="2026-02-01T00:00:00+00:00")
    assert build_epoch(GitInfo(sha="a" * 40, timestamp=EPOCH), model, {}) == EPOCH
    assert build_epoch(GitInfo(), model, {}) == EPOCH + 31 * 86400, "outside git: when the model was exported"
    assert build_epoch(GitInfo(sha="a" * 40, timestamp=EPOCH), model, {"SOURCE_DATE_EPOCH": "7"}) == 7


def test_the_created_label_is_the_epoch(tmp_path: Path) -> None:
    from ml_ci.build.plan import make_plan
    from ml_ci.config import load_config
    from ml_ci.provenance import GitInfo
    from tests.modelrepo import make_model_repo

    config = load_config(make_model_repo(tmp_path, overrides={"image": {"registry": "127.0.0.1:5000"}})).config
    plan = make_plan(
        config,
        git=GitInfo(sha="a" * 40, timestamp=EPOCH),
        model=MODEL,
        pins={},
        epoch=EPOCH,
        data_fingerprint=None,
        metrics={},
    )
    assert plan.labels["org.opencontainers.image.created"] == "2026-01-01T00:00:00Z" and plan.epoch == EPOCH


def test_a_compressed_layer_is_read_as_its_tar(tmp_path: Path) -> None:
    import gzip

    plain = layer(tmp_path / "p.tar", FILES, EPOCH + 1)
    packed = tmp_path / "p.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    assert normalize_layer(packed, tmp_path / "a.tar", EPOCH) == normalize_layer(plain, tmp_path / "b.tar", EPOCH)


def test_the_build_reads_model_json_as_the_model_record(tmp_path: Path) -> None:
    from ml_ci.build.stage import read_model
    from ml_ci.errors import OperationalError
    from ml_ci.records import model

    path = tmp_path / "model.json"
    with pytest.raises(OperationalError, match=r"model.json is missing; run `ml-ci export` first"):
        read_model(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(OperationalError, match=r"model.json is missing; run `ml-ci export` first"):
        read_model(path)
    model.write(path, MODEL)
    assert read_model(path) == MODEL
    path.write_text(json.dumps({k: v for k, v in MODEL.data().items() if k != "sha256"}), encoding="utf-8")
    with pytest.raises(OperationalError, match=r"model.json: the model record has no 'sha256'; run `ml-ci export` again"):
        read_model(path)
    path.write_text(json.dumps({**MODEL.data(), "pad_id": "x"}), encoding="utf-8")
    with pytest.raises(OperationalError, match=r"model.json: the model record is not one `ml-ci export` writes"):
        read_model(path)
