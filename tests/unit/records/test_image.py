"""build/image.json as a record: the bytes `ml-ci build` always wrote, and what deploy takes from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.errors import DeployError, OperationalError
from ml_ci.records import image

DIGEST = "sha256:" + "ab" * 32
# image.json as `ml-ci build --push` wrote it before records (keys in this order).
WRITTEN = {
    "repository": "127.0.0.1:5000/acme/tiny",
    "tags": ["0123456789ab", "1.2.0"],
    "image_id": "sha256:" + "cd" * 32,
    "size": 412345678,
    "labels": {"org.opencontainers.image.title": "tiny", "io.ml-ci.model.sha256": "ef" * 32},
    "source_date_epoch": 1700000000,
    "verification": {"ready_seconds": 1.5, "golden_examples": 4, "metrics": {"requests": 4}},
    "pushed": True,
    "digest": DIGEST,
    "reference": f"127.0.0.1:5000/acme/tiny@{DIGEST}",
}


def test_read_then_write_gives_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "image.json"
    source.write_text(json.dumps(WRITTEN, indent=2) + "\n", encoding="utf-8")
    record = image.read(source)
    assert (record.tags, record.size, record.pushed, record.version) == (("0123456789ab", "1.2.0"), 412345678, True, 1)
    image.write(tmp_path / "again.json", record)
    assert (tmp_path / "again.json").read_bytes() == source.read_bytes()


def test_an_unpushed_build_round_trips_too() -> None:
    unpushed = {**WRITTEN, "size": None, "pushed": False, "digest": None, "reference": "127.0.0.1:5000/acme/tiny:0123456789ab"}
    assert image.ImageRecord.from_data(unpushed).data() == unpushed


def test_a_later_version_says_so_and_version_1_does_not() -> None:
    assert "version" not in image.ImageRecord.from_data(WRITTEN).data()
    assert image.ImageRecord.from_data({**WRITTEN, "version": 2}).data()["version"] == 2


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "image.json"
    with pytest.raises(OperationalError, match=r"image.json: the image record is missing; run `ml-ci build`"):
        image.read(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(OperationalError, match=r"image.json:1:2: the image record is not valid JSON"):
        image.read(path)
    path.write_text(json.dumps({k: v for k, v in WRITTEN.items() if k != "image_id"}), encoding="utf-8")
    with pytest.raises(OperationalError, match=r"image.json: the image record has no 'image_id'; run `ml-ci build` again"):
        image.read(path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(OperationalError, match=r"image.json: the image record is not one `ml-ci build` writes"):
        image.read(path)


def test_deploy_reads_the_reference_of_a_build_and_of_a_hand_made_record(tmp_path: Path) -> None:
    path = tmp_path / "image.json"
    path.write_text(json.dumps(WRITTEN), encoding="utf-8")
    assert str(image.read_reference(path)) == WRITTEN["reference"]
    path.write_text(json.dumps({"ref": WRITTEN["reference"]}), encoding="utf-8")
    assert str(image.read_reference(path)) == WRITTEN["reference"]
    path.write_text(json.dumps({"tags": []}), encoding="utf-8")
    with pytest.raises(DeployError, match=r"image.json: no image reference by digest in it"):
        image.read_reference(path)
    with pytest.raises(OperationalError, match=r"the image record is missing; run `ml-ci build --push` or pass --image"):
        image.read_reference(tmp_path / "absent.json")
