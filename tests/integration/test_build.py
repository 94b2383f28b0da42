"""`ml-ci build` refuses to push an image that does not answer as the model it was built from."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ml_ci.cli.main import main
from ml_ci.config import load_config
from tests.integration.test_image import git_commit, image_overrides
from tests.integration.test_serve_support import exported_repo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def tag_exists(repository: str, tag: str) -> bool:
    host, name = repository.split("/", 1)
    request = urllib.request.Request(
        f"http://{host}/v2/{name}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
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


def registry_digest(repository: str, tag: str) -> str:
    """The digest the registry itself serves for a tag."""
    host, name = repository.split("/", 1)
    request = urllib.request.Request(
        f"http://{host}/v2/{name}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def test_the_same_inputs_give_the_same_digest_and_a_changed_model_another(tmp_path: Path) -> None:
    """Issue 20 item 2: an unchanged model rebuilt from scratch (no local image, no layer cache: as on a
    fresh runner) is the very same image in the registry; its times come from the commit, not the clock."""
    import docker

    from ml_ci.config import load_config as load
    from ml_ci.export.stage import run_export
    from tests.modelrepo import tiny_model

    path = exported_repo(tmp_path, overrides=image_overrides("repro"))
    git_commit(tmp_path)
    commit_time = int(
        subprocess.run(
            ["git", "-C", str(tmp_path), "log", "-1", "--format=%ct"], check=True, capture_output=True, text=True
        ).stdout
    )
    record_path = tmp_path / ".ml-ci/artifacts/build/image.json"
    repository = ""
    try:
        assert main(["build", "-c", str(path)]) == 0
        first = json.loads(record_path.read_text())
        repository, tag = first["repository"], first["tags"][0]
        created = datetime.fromtimestamp(commit_time, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        image = docker.from_env().images.get(first["image_id"])
        assert image.labels["org.opencontainers.image.created"] == created, "the commit's time, not the clock"
        assert image.attrs["Created"].startswith(created[:-1])
        assert first["source_date_epoch"] == commit_time
        remove_local(repository)
        time.sleep(1.1)  # the old build stamped the clock in seconds: a second later is another image

        assert main(["build", "-c", str(path), "--no-cache"]) == 0
        second = json.loads(record_path.read_text())
        assert second["image_id"] == first["image_id"], "every layer rebuilt, the same image"
        assert second["digest"] == first["digest"] == registry_digest(repository, tag)

        tiny_model(tmp_path / ".ml-ci/artifacts/train/model")  # new random weights: another model
        run_export(load(path).config)
        assert main(["build", "-c", str(path)]) == 0
        third = json.loads(record_path.read_text())
        assert (
            third["digest"] != first["digest"]
            and third["labels"]["io.ml-ci.model.sha256"] != first["labels"]["io.ml-ci.model.sha256"]
        )
        assert registry_digest(repository, tag) == third["digest"]
    finally:
        if repository:
            remove_local(repository)


def test_a_platform_the_engine_does_not_build_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 20 item 4: linux/arm64 on an amd64 engine was accepted and an amd64 image built; now exit 2."""
    import docker

    engine = docker.from_env().version()["Arch"]
    other = "linux/arm64" if engine in ("amd64", "x86_64") else "linux/amd64"
    overrides = image_overrides("platform")
    overrides["image"]["platforms"] = [other]
    path = exported_repo(tmp_path, overrides=overrides)
    assert main(["build", "-c", str(path), "--no-push"]) == 2
    err = capsys.readouterr().err
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "platforms" in text)
    assert f"{path}:{line}:" in err and f": image.platforms: {other} cannot be built by this Docker engine, which builds " in err
    assert not (tmp_path / ".ml-ci/artifacts/build/image.json").exists()
    assert not docker.from_env().images.list(name=f"{overrides['image']['registry']}/{overrides['image']['repository']}")
