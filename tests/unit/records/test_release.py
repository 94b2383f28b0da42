"""The release record and the per-environment deploy record: the JSON deploy has always written
(pinned byte for byte), one read and one write, and the same errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.errors import DeployError, OperationalError
from ml_ci.records import release as records
from ml_ci.records.release import Deployed, Release

IMAGE = "127.0.0.1:5000/acme/tiny@sha256:" + "a" * 64
PINNED = (
    "{\n"
    '  "deployed_at": "2026-01-01T00:00:00+00:00",\n'
    '  "environment": "staging",\n'
    '  "extra": {\n'
    '    "model_sha256": "abc"\n'
    "  },\n"
    f'  "image": "{IMAGE}",\n'
    '  "previous": null,\n'
    '  "reason": null,\n'
    '  "smoke": "passed",\n'
    '  "source": "deploy",\n'
    '  "status": "live",\n'
    '  "verdict": "pass"\n'
    "}\n"
)


def make() -> Release:
    return Release(
        environment="staging",
        image=IMAGE,
        verdict="pass",
        smoke="passed",
        status="live",
        deployed_at="2026-01-01T00:00:00+00:00",
        source="deploy",
        extra=records.extra_for("abc"),
    )


def test_release_json_is_what_deploy_always_wrote(tmp_path: Path) -> None:
    assert Release.version == records.VERSION == 1
    assert make().to_json() == PINNED  # version 1 has no "version" key
    records.write(tmp_path / "release.json", make())
    assert (tmp_path / "release.json").read_text(encoding="utf-8") == PINNED
    assert records.read(tmp_path / "release.json") == make()
    assert [p.name for p in tmp_path.iterdir()] == ["release.json"]  # no temporary file left behind


def test_typed_extras() -> None:
    rel = make().with_manifests_sha256("f" * 64)
    assert (rel.model_sha256, rel.manifests_sha256) == ("abc", "f" * 64)
    assert records.extra_for(None) == {} and make().with_(extra={}).model_sha256 is None


@pytest.mark.parametrize("text", ["{", '{"environment": "staging"}'])
def test_an_unreadable_release_names_its_source(text: str) -> None:
    with pytest.raises(OperationalError, match=r"^here: unreadable release record \(.*\); fix or remove it$"):
        Release.from_json(text, "here")


def test_a_release_by_tag_is_refused_as_deploy_refuses_it() -> None:
    with pytest.raises(DeployError, match=r"^image 'acme/tiny:1' has no digest"):
        Release.from_json(json.dumps({**json.loads(PINNED), "image": "acme/tiny:1"}), "here")


def test_the_deploy_record_round_trips_through_its_folder(tmp_path: Path) -> None:
    deployed = Deployed(release=make(), eval_record={"verdict": "pass", "predictions": [1, 2]}, golden={"examples": []})
    assert records.read_deployed(tmp_path / "staging") is None
    records.write_deployed(tmp_path / "staging", deployed)
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == ["eval.json", "golden.json", "release.json"]
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "staging").iterdir()} == {0o600}  # private, as always
    assert (tmp_path / "staging" / "eval.json").read_text(encoding="utf-8") == (
        '{\n  "predictions": [\n    1,\n    2\n  ],\n  "verdict": "pass"\n}\n'
    )
    assert records.read_deployed(tmp_path / "staging") == deployed


def test_the_configmap_files_are_compact_and_read_back() -> None:
    deployed = Deployed(release=make(), eval_record={"verdict": "pass", "predictions": [1]}, golden={"examples": []})
    files = deployed.compact_files()
    assert list(files) == ["release.json", "eval.json", "golden.json"]
    assert files["eval.json"] == '{"verdict": "pass"}' and files["golden.json"] == '{"examples": []}'
    back = Deployed.from_texts(files["release.json"], files["eval.json"], files.get("golden.json"), "cm")
    assert back == Deployed(release=make(), eval_record={"verdict": "pass"}, golden={"examples": []})
    assert Deployed.from_texts(files["release.json"], None, None, "cm").eval_record == {}
