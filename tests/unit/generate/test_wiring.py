"""The generated workflows wire the stage commands as they need: tuning results in release,
worker indexes, baselines for relative gates, tokens for deployments and GHCR."""

from __future__ import annotations

from typing import Any

import yaml

from ml_ci.generate import yamlout
from tests.golden.variants import GOLDEN, render_variant

PR = ".github/workflows/ml-pr.yml"
RELEASE = ".github/workflows/ml-release.yml"


def workflow(variant: str, rel: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(render_variant(GOLDEN / variant)[rel])
    return data


def step(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("id") == step_id)


def downloaded(job: dict[str, Any]) -> set[str]:
    return {s["with"]["name"] for s in job["steps"] if "download-artifact" in s.get("uses", "") and "name" in s["with"]}


def uploaded(jobs: dict[str, Any]) -> set[str]:
    return {s["with"]["name"] for job in jobs.values() for s in job["steps"] if "upload-artifact" in s.get("uses", "")}


def waited_for(jobs: dict[str, Any], job_id: str) -> set[str]:
    out: set[str] = set()
    for need in jobs[job_id].get("needs", []):
        out |= {need} | waited_for(jobs, need)
    return out


def test_every_downloaded_artifact_is_uploaded_by_a_job_it_waits_for() -> None:
    for variant in ("tune-one-worker", "tune-three-workers", "gitops-three-envs", "minimal"):
        for rel in (PR, RELEASE):
            jobs = workflow(variant, rel)["jobs"]
            for job_id, job in jobs.items():
                available = uploaded({k: jobs[k] for k in waited_for(jobs, job_id)})
                # A matrix upload's name carries ${{ matrix.worker }}; compare with worker 0.
                available = {name.replace("${{ matrix.worker }}", "0") for name in available}
                missing = downloaded(job) - available
                assert not missing, f"{variant} {rel} {job_id} downloads {missing} nobody before it uploads"


def test_release_tunes_like_the_pull_request() -> None:
    for variant in ("tune-one-worker", "tune-three-workers"):
        pr, release = workflow(variant, PR)["jobs"], workflow(variant, RELEASE)["jobs"]
        assert release["tune"]["strategy"] == pr["tune"]["strategy"], variant
        assert release["train"]["needs"] == [n for n in pr["train"]["needs"] if n != "data-check"], variant
        assert step(release["train"], "train")["with"]["params"] == step(pr["train"], "train")["with"]["params"]


def test_tune_workers_know_their_index() -> None:
    for variant in ("tune-one-worker", "tune-three-workers"):
        for rel in (PR, RELEASE):
            tune = step(workflow(variant, rel)["jobs"]["tune"], "tune")
            assert tune["env"] == {"ML_CI_TUNE_WORKER": "${{ strategy.job-index }}"}


def test_shared_study_results_are_rebuilt_once_not_picked_from_a_worker() -> None:
    jobs = workflow("tune-three-workers", PR)["jobs"]
    results = jobs["tune-results"]
    assert results["needs"] == ["tune"] and results["env"] == {"STUDY_DB": "${{ secrets.STUDY_DB }}"}
    assert results["environment"] == {"name": "ml-ci-tune"}
    rebuild = step(results, "tune")
    assert rebuild["with"]["trials"] == "0" and rebuild["if"] == "env.STUDY_DB != ''"
    fallback = [s for s in results["steps"] if s.get("if") == "env.STUDY_DB == ''"]
    assert [s.get("uses", "run").split("@")[0] for s in fallback] == ["actions/download-artifact", "run"]
    assert '"direction"' in fallback[1]["run"] and '["best"]["value"]' in fallback[1]["run"]
    assert downloaded(jobs["train"]) == {"tune"} and jobs["train"]["needs"] == ["data-check", "tune-results"]
    text = render_variant(GOLDEN / "tune-three-workers")[PR]
    assert "STUDY_DB: ${{ secrets.STUDY_DB }} # unset: every worker tunes its own SQLite study" in text


def test_the_fallback_picks_the_best_worker_by_value(tmp_path: Any, monkeypatch: Any) -> None:
    import json

    from ml_ci.generate.tuning import PICK_BEST_BY_VALUE

    python = PICK_BEST_BY_VALUE.split("<<'PY'\n", 1)[1].rsplit("PY\n", 1)[0]
    for worker, value in ((0, 0.7), (1, 0.9), (2, 0.8)):
        folder = tmp_path / ".ml-ci/tune-workers" / f"tune-worker-{worker}"
        folder.mkdir(parents=True)
        report = {
            "metric": "accuracy",
            "direction": "maximize",
            "trials": [1] * (3 - worker),
            "best": {"value": value, "params": {}},
        }  # the most trials is not the best value
        (folder / "report.json").write_text(json.dumps(report), encoding="utf-8")
        (folder / "best_params.json").write_text(json.dumps({"worker": worker}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exec(compile(python, "pick", "exec"), {})
    assert json.loads((tmp_path / ".ml-ci/artifacts/tune/best_params.json").read_text(encoding="utf-8")) == {"worker": 1}


def test_production_gates_read_the_gitops_repository() -> None:
    for rel in (PR, RELEASE):
        evaluate = workflow("gitops-three-envs", rel)["jobs"]["evaluate"]
        checkout = step(evaluate, "gitops")
        assert checkout["with"]["repository"] == "acme/deploy" and checkout["with"]["ref"] == "main"
        assert checkout["with"]["token"] == "${{ secrets.DEPLOY_TOKEN }}"
        assert checkout["with"]["persist-credentials"] is False and checkout["continue-on-error"] is True
        path = checkout["with"]["path"]
        wanted = f"${{{{ steps.gitops.outcome == 'success' && '{path}' || '' }}}}"
        assert step(evaluate, "evaluate")["with"]["gitops-dir"] == wanted
        assert evaluate["environment"] == {"name": "ml-ci-gitops-read"}  # a read-only token, not the deploy one


def test_main_gates_get_the_latest_evaluation_on_the_base_branch() -> None:
    release = workflow("gitops-three-envs", RELEASE)["jobs"]["evaluate"]
    save = next(s for s in release["steps"] if s.get("uses", "").startswith("actions/cache/save@"))
    assert save["with"]["key"] == "ml-ci-eval-gitops-three-envs-${{ github.ref_name }}-${{ github.run_id }}"
    pr = workflow("gitops-three-envs", PR)["jobs"]["evaluate"]
    restore = step(pr, "main-baseline")
    assert restore["uses"].startswith("actions/cache/restore@")
    assert restore["with"]["path"] == save["with"]["path"]  # the cache's version hashes the path
    assert restore["with"]["restore-keys"] == "ml-ci-eval-gitops-three-envs-${{ github.base_ref }}-"
    assert step(pr, "evaluate")["with"]["main-baseline"].startswith("${{ steps.main-baseline.outputs.cache-matched-key")
    # Without relative gates nothing is fetched.
    plain = workflow("gitops-one-env", PR)["jobs"]["evaluate"]
    assert step(plain, "evaluate")["with"] == {"config": "ml.yaml"}


def test_deployments_are_recorded_with_the_job_token() -> None:
    jobs = workflow("gitops-three-envs", RELEASE)["jobs"]
    for job_id in ("deploy-staging", "promote-canary", "promote-production"):
        stage = step(jobs[job_id], job_id.split("-")[0])
        assert stage["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}, job_id


def test_ghcr_builds_log_in_with_the_job_token() -> None:
    build = workflow("gitops-three-envs", RELEASE)["jobs"]["build"]
    names = [s["name"] for s in build["steps"]]
    login = next(s for s in build["steps"] if "docker login" in s.get("run", ""))
    assert names.index(login["name"]) < names.index("Build and push")
    assert login["env"] == {"GHCR_TOKEN": "${{ github.token }}"}
    assert "--password-stdin" in login["run"] and "$GHCR_TOKEN" in login["run"]
    # Credentials named in ml.yaml win: no login step, the secrets go to the build.
    secrets = workflow("registry-secrets", RELEASE)["jobs"]["build"]
    assert not any("docker login" in s.get("run", "") for s in secrets["steps"])


def test_only_a_push_with_the_job_token_gets_packages_write(tmp_path: Any) -> None:
    """`packages: write` lets the job's token push to GitHub's registry and nothing else: a build for
    another registry, or for ghcr.io with a token named in ml.yaml, is not given it."""
    from dataclasses import replace

    from ml_ci.config import load_config
    from ml_ci.generate.options import Options
    from ml_ci.generate.workflows import release_workflow

    config = load_config(GOLDEN / "minimal" / "ml.yaml").config

    def build_permissions(**image: Any) -> dict[str, Any]:
        wf = release_workflow(replace(config, image=replace(config.image, **image)), Options())
        data: dict[str, Any] = yaml.safe_load(yamlout.dump(wf.data()))
        return dict(data["jobs"]["build"]["permissions"])

    assert build_permissions(registry="ghcr.io") == {"contents": "read", "packages": "write"}
    assert build_permissions(registry="GHCR.io") == {"contents": "read", "packages": "write"}
    assert build_permissions(registry="registry.example.com:5000") == {"contents": "read"}
    assert build_permissions(registry="127.0.0.1:5000") == {"contents": "read"}
    assert build_permissions(registry="ghcr.io", registry_username_env="U", registry_password_env="P") == {"contents": "read"}
    assert "packages" not in workflow("registry-secrets", RELEASE)["jobs"]["build"]["permissions"]


def test_only_a_github_repository_is_checked_out_for_production(tmp_path: Any) -> None:
    from dataclasses import replace

    from ml_ci.config import load_config
    from ml_ci.generate.baselines import gitops_slug

    config = load_config(GOLDEN / "gitops-three-envs" / "ml.yaml").config
    assert config.deploy is not None and config.deploy.gitops is not None

    def slug(repo: str, path: Any = config.path) -> str | None:
        assert config.deploy is not None and config.deploy.gitops is not None
        gitops = replace(config.deploy.gitops, repo=repo)
        return gitops_slug(replace(config, deploy=replace(config.deploy, gitops=gitops), path=path))

    assert slug("acme/deploy") == "acme/deploy"
    assert slug("https://github.com/acme/deploy.git") == "acme/deploy"
    assert slug(".ml-ci/gitops.git") is None  # the example's local repository
    assert slug("git@github.com:acme/deploy.git") is None and slug("https://gitlab.com/acme/deploy") is None
    (tmp_path / "acme" / "deploy").mkdir(parents=True)
    assert slug("acme/deploy", tmp_path / "ml.yaml") is None  # a folder beside ml.yaml, as ml-ci deploy reads it
