"""The reusable workflow .github/workflows/ml-pipeline.yml runs the whole pipeline behind inputs,
pinned to a commit of ml-ci by default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.generate.bundled import PIPELINE_FILE, render_bundled
from ml_ci.generate.reusable import ML_CI_COMMIT, PLAN
from ml_ci.pipeline import stages
from tests.golden.variants import GOLDEN

STAGES = tuple(stage.name for stage in stages.STAGES if stage.action)


def pipeline() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(render_bundled()[PIPELINE_FILE])
    return data


def actions_used(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Action name -> the steps that use it (./.ml-ci-src/actions/<name>)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("./.ml-ci-src/actions/"):
                out.setdefault(step["uses"].rsplit("/", 1)[1], []).append(step)
    return out


def test_the_default_ref_is_a_commit() -> None:
    inputs = pipeline()["on"]["workflow_call"]["inputs"]
    assert re.fullmatch(r"[0-9a-f]{40}", inputs["ml-ci-ref"]["default"]), inputs["ml-ci-ref"]["default"]
    assert inputs["ml-ci-ref"]["default"] == ML_CI_COMMIT


def test_every_stage_runs_and_the_optional_ones_are_behind_inputs() -> None:
    doc = pipeline()
    used = actions_used(doc)
    assert set(STAGES) <= set(used), f"missing {set(STAGES) - set(used)}"
    inputs = doc["on"]["workflow_call"]["inputs"]
    for name in ("tune", "export", "build", "deploy"):
        assert inputs[name] == {
            "description": inputs[name]["description"],
            "type": "boolean",
            "required": False,
            "default": False,
        }, name
    jobs = doc["jobs"]
    assert jobs["tune"]["if"] == "${{ inputs.tune }}"
    assert "needs.tune.result == 'skipped'" in jobs["train"]["if"], "training runs without tuning"
    assert used["train"][0]["with"]["params"] == "${{ inputs.tune && '.ml-ci/artifacts/tune/best_params.json' || '' }}"
    assert "inputs.export || inputs.build || inputs.deploy" in jobs["export"]["if"]
    for build in ("build", "build-ghcr"):
        assert "(inputs.build || inputs.deploy)" in jobs[build]["if"]
        assert {"export", "evaluate"} <= set(jobs[build]["needs"])
    assert "inputs.deploy" in jobs["deploy-and-promote"]["if"]


def test_deployments_go_one_environment_at_a_time_in_order() -> None:
    job = pipeline()["jobs"]["deploy-and-promote"]
    assert job["strategy"] == {
        "fail-fast": True,
        "max-parallel": 1,
        "matrix": {"include": "${{ fromJSON(needs.validate.outputs.environments) }}"},
    }
    assert job["environment"] == {"name": "${{ matrix.environment }}"}
    assert job["concurrency"]["cancel-in-progress"] is False
    steps = {s.get("id"): s for s in job["steps"]}
    assert steps["deploy"]["if"] == "matrix.from == ''" and steps["promote"]["if"] == "matrix.from != ''"
    assert steps["promote"]["with"] == {
        "config": "${{ inputs.config }}",
        "from": "${{ matrix.from }}",
        "to": "${{ matrix.environment }}",
    }


def test_only_the_ghcr_build_gets_packages_write() -> None:
    jobs = pipeline()["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["build-ghcr"]["permissions"] == {"contents": "read", "packages": "write"}
    assert "needs.validate.outputs.ghcr-login != 'true'" in jobs["build"]["if"]
    assert "needs.validate.outputs.ghcr-login == 'true'" in jobs["build-ghcr"]["if"]


def test_a_release_is_never_cancelled_halfway() -> None:
    assert pipeline()["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def _plan(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Run the validate job's plan script's Python, as `python -c` would, with the job's environment."""
    code = PLAN.split("python -c '\n", 1)[1].rsplit("'\n", 1)[0]
    output = tmp_path / "output"
    monkeypatch.setenv("ML_CI_CONFIG", str(config))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    exec(compile(code, "plan", "exec"), {})  # the workflow's own fixed script, as python -c runs it
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_plan_reads_the_chain_and_the_registry_from_ml_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    three = _plan(GOLDEN / "gitops-three-envs" / "ml.yaml", tmp_path, monkeypatch)
    assert json.loads(three["environments"]) == [
        {"environment": "staging", "from": ""},
        {"environment": "canary", "from": "staging"},
        {"environment": "production", "from": "canary"},
    ]
    assert three["ghcr-login"] == "true"
    (tmp_path / "output").unlink()
    secrets = _plan(GOLDEN / "registry-secrets" / "ml.yaml", tmp_path, monkeypatch)
    assert secrets["ghcr-login"] == "false"
    (tmp_path / "output").unlink()
    assert _plan(GOLDEN / "minimal" / "ml.yaml", tmp_path, monkeypatch)["environments"] == "[]"


def test_every_job_after_the_optional_tune_job_says_what_it_waits_for() -> None:
    """GitHub's implicit success() is false when any job upstream was skipped: without tuning, a job
    downstream of `tune` with no status check of its own would never run (act showed it: the run stopped
    after train)."""
    jobs = pipeline()["jobs"]

    def upstream(job_id: str) -> set[str]:
        needs = set(jobs[job_id].get("needs", []))
        return needs.union(*(upstream(n) for n in needs)) if needs else set()

    after_tune = [job_id for job_id in jobs if "tune" in upstream(job_id)]
    assert {"train", "evaluate", "export", "build", "build-ghcr", "deploy-and-promote", "report"} <= set(after_tune)
    for job_id in after_tune:
        assert "!cancelled()" in jobs[job_id].get("if", ""), job_id
