"""`ml-ci build` refuses to push an image that does not answer as the model it was built from."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ml_ci.cli.main import main
from ml_ci.config import load_config
from tests.integration.test_image import image_overrides
from tests.integration.test_serve_support import exported_repo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def tag_exists(repository: str, tag: str) -> bool:
    host, name = repository.split("/", 1)
    request = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise


def remove_local(repository: str) -> None:
    import docker

    client = docker.from_env()
    for image in client.images.list(name=repository):
        client.images.remove(image.id, force=True)


def test_a_wrong_answer_fails_the_build_and_nothing_is_pushed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = exported_repo(tmp_path, overrides=image_overrides("mismatch"))
    golden_path = tmp_path / ".ml-ci/artifacts/export/golden.json"
    golden = json.loads(golden_path.read_text())
    # A near tie may take either label (the tiny model makes some): change an example that is not one.
    index = next(i for i, e in enumerate(golden["examples"]) if not e.get("near_tie"))
    wrong = golden["examples"][index]["expected"]
    wrong["label"] = next(label for label in golden["labels"] if label != wrong["label"])
    for label in wrong["probabilities"]:
        wrong["probabilities"][label] = 1.0 - wrong["probabilities"][label]
    golden_path.write_text(json.dumps(golden))
    config = load_config(path).config
    repository = f"{config.image.registry}/{config.image.repository}"
    sha256 = json.loads((tmp_path / ".ml-ci/artifacts/export/model.json").read_text())["sha256"]
    try:
        assert main(["build", "-c", str(path)]) == 1
        err = capsys.readouterr().err
        assert "the image answers 1 golden example(s) differently; nothing was pushed" in err
        assert f"example {index} (" in err
        assert not (tmp_path / ".ml-ci/artifacts/build/image.json").exists()
        assert not tag_exists(repository, f"model-{sha256[:12]}"), "not a git repository: the tag is the model's digest"
    finally:
        remove_local(repository)


def test_no_push_builds_and_verifies_only(tmp_path: Path) -> None:
    path = exported_repo(tmp_path, overrides=image_overrides("nopush"))
    record_path = tmp_path / ".ml-ci/artifacts/build/image.json"
    try:
        assert main(["build", "-c", str(path), "--no-push"]) == 0
        record = json.loads(record_path.read_text())
        assert record["pushed"] is False and record["digest"] is None
        assert record["reference"] == f"{record['repository']}:{record['tags'][0]}"
        assert record["verification"]["golden_examples"] == 32
        assert not tag_exists(record["repository"], record["tags"][0])
    finally:
        remove_local(json.loads(record_path.read_text())["repository"] if record_path.exists() else "none/none")
