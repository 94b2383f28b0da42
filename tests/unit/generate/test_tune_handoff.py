"""The tuning jobs hand the best trial's model to the train job (issue 22 item 4).

`ml-ci tune` keeps the best full trial's model in train's stage cache, but in the generated
workflows the tune job(s) and the train job are separate jobs on separate runners: the entry only
reaches the train job through GitHub's cache, saved by the tune job under exactly the key and path
that the train action restores (actions/cache matches a key only with the same path list)."""

from __future__ import annotations

from typing import Any

import yaml

from ml_ci.generate import pins
from ml_ci.generate.bundled import PIPELINE_FILE, render_bundled
from ml_ci.generate.jobs import artifacts_path
from tests.golden.variants import GOLDEN, render_variant

PR = ".github/workflows/ml-pr.yml"
RELEASE = ".github/workflows/ml-release.yml"
KEPT = "${{ steps.tune.outputs.train-cache-key }}"
SAVE = f"{pins.CACHE_SAVE.repo}@{pins.CACHE_SAVE.sha}"


def load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def action(name: str) -> dict[str, Any]:
    return load(render_bundled()[f"actions/{name}/action.yml"])


def saves(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/cache/save@")]


def needs_all(jobs: dict[str, Any], job_id: str) -> set[str]:
    out: set[str] = set()
    for need in jobs[job_id].get("needs", []):
        out |= {need} | needs_all(jobs, need)
    return out


def restore_of_train() -> dict[str, Any]:
    steps = action("train")["runs"]["steps"]
    return next(s for s in steps if s.get("id") == "cache")


def test_the_train_action_caches_exactly_its_own_entry() -> None:
    steps = action("train")["runs"]["steps"]
    key_script = next(s for s in steps if s.get("id") == "key")["run"]
    # The raw stage key (for the path) and GitHub's cache key, from the one `--print-cache-key`.
    assert "printf 'hash=%s\\n' \"$key\"" in key_script and "printf 'key=ml-ci-train-%s\\n' \"$key\"" in key_script
    assert restore_of_train()["with"] == {
        "path": ".ml-ci/cache/train/${{ steps.key.outputs.hash }}",
        "key": "${{ steps.key.outputs.key }}",
    }


def test_the_tune_action_names_the_entry_it_kept_for_the_training_train_will_run() -> None:
    tune = action("tune")
    assert tune["outputs"]["train-cache-key"]["value"] == "${{ steps.kept.outputs.train-cache-key }}"
    ids = [s.get("id") for s in tune["runs"]["steps"]]
    assert ids.index("kept") > ids.index("run")  # after `ml-ci tune` wrote best_params.json
    script = next(s for s in tune["runs"]["steps"] if s.get("id") == "kept")["run"]
    # The key train computes from the params file the train job passes, and only an intact entry here.
    assert f'params="{artifacts_path("tune")}/best_params.json"' in script
    assert 'key="$(ml-ci train --print-cache-key -c "$ML_CI_CONFIG" --params "$params")"' in script
    assert '[ -f ".ml-ci/cache/train/$key/manifest.json" ]' in script
    assert 'printf \'train-cache-key=%s\\n\' "$key" >> "$GITHUB_OUTPUT"' in script


def check_handoff(jobs: dict[str, Any], where: str) -> None:
    tune, train = jobs["tune"], jobs["train"]
    (save,) = saves(tune)
    assert save["uses"] == SAVE, where  # pinned by SHA like every third-party action
    assert save["if"] == "steps.tune.outputs.train-cache-key != ''", where  # a budget keeps nothing
    ids = [s.get("id") for s in tune["steps"]]
    assert tune["steps"].index(save) == ids.index("tune") + 1, where
    # Substituted, both name the same entry: what the tune job saves is what the train job restores.
    stage_key = "0123abcd" * 8
    saved = {k: v.replace(KEPT, stage_key) for k, v in save["with"].items()}
    restored = {
        k: v.replace("${{ steps.key.outputs.hash }}", stage_key).replace(
            "${{ steps.key.outputs.key }}", "ml-ci-train-" + stage_key
        )
        for k, v in restore_of_train()["with"].items()
    }
    assert saved == restored, where
    # The train job starts only after every tuning job (each matrix worker) has saved.
    assert "tune" in needs_all(jobs, "train"), where
    assert any(str(s.get("uses", "")).endswith("/train") or "actions/train@" in str(s.get("uses", "")) for s in train["steps"]), (
        where
    )


def test_every_tuning_workflow_saves_the_kept_model_where_train_restores_it() -> None:
    for variant in ("tune-one-worker", "tune-three-workers", "vendored-default", "local-actions", "gpu-runners"):
        rendered = render_variant(GOLDEN / variant)
        for rel in (PR, RELEASE):
            jobs = load(rendered[rel])["jobs"]
            if "tune" in jobs:
                check_handoff(jobs, f"{variant} {rel}")


def test_each_worker_of_a_matrix_saves_its_own_kept_model() -> None:
    # The study's best may be any worker's trial: every worker saves (under its own trial's key),
    # and the train job asks for the one its best_params.json names.
    jobs = load(render_variant(GOLDEN / "tune-three-workers")[PR])["jobs"]
    assert jobs["tune"]["strategy"]["matrix"]["worker"] == [0, 1, 2]
    assert len(saves(jobs["tune"])) == 1 and not saves(jobs["tune-results"])
    assert jobs["train"]["needs"] == ["data-check", "tune-results"] and jobs["tune-results"]["needs"] == ["tune"]


def test_the_reusable_pipeline_hands_it_over_too() -> None:
    check_handoff(load(render_bundled()[PIPELINE_FILE])["jobs"], PIPELINE_FILE)


def test_without_tuning_nothing_is_saved_for_train() -> None:
    jobs = load(render_variant(GOLDEN / "minimal")[PR])["jobs"]
    assert "tune" not in jobs and not any(saves(job) for job in jobs.values())
