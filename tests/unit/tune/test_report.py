"""Artifacts from in-memory Optuna studies: files, importances and plots."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from ml_ci.tune.report import MIN_TRIALS_FOR_IMPORTANCE, PLOTS, write_artifacts

optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_with(n: int) -> optuna.Study:
    study = optuna.create_study(study_name="toy", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True)
        warmup = trial.suggest_float("warmup_ratio", 0.0, 0.2, step=0.1)
        return 1.0 - abs(lr - 1e-4) * 100 - warmup * 0.01

    study.optimize(objective, n_trials=n)
    return study


def test_artifacts_of_a_small_study(tmp_path: Path) -> None:
    study = study_with(3)
    out = tmp_path / "artifacts" / "tune"
    out.mkdir(parents=True)
    (out / "stale.txt").write_text("from an earlier run")
    summary = write_artifacts(out, study, metric="accuracy", seed=0, plan={"study_name": "toy"})
    assert sorted(p.name for p in out.iterdir()) == sorted(["best_params.json", "report.json", "report.md", *PLOTS])
    assert json.loads((out / "best_params.json").read_text()) == study.best_params
    report = json.loads((out / "report.json").read_text())
    assert report["best"]["value"] == pytest.approx(study.best_value)
    assert report["importances"] == {}  # fewer than MIN_TRIALS_FOR_IMPORTANCE complete trials
    assert report["plan"] == {"study_name": "toy"}
    assert summary.plots == PLOTS
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["tune"], "no temporary folder left behind"


def test_importances_from_ten_complete_trials(tmp_path: Path) -> None:
    study = study_with(MIN_TRIALS_FOR_IMPORTANCE)
    summary = write_artifacts(tmp_path / "tune", study, metric="accuracy", seed=0, plan={})
    assert set(summary.importances) == {"learning_rate", "warmup_ratio"}
    assert sum(summary.importances.values()) == pytest.approx(1.0)
    # learning_rate drives the toy objective far more than warmup_ratio.
    assert summary.importances["learning_rate"] > summary.importances["warmup_ratio"]
    assert "Parameter importances (fANOVA)" in (tmp_path / "tune" / "report.md").read_text()


def test_no_complete_trial_writes_no_best_params(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({})

    def pruned(trial: optuna.Trial) -> float:
        raise optuna.TrialPruned()

    study.optimize(pruned, n_trials=1)
    summary = write_artifacts(tmp_path / "tune", study, metric="accuracy", seed=0, plan={})
    assert summary.best is None
    assert sorted(p.name for p in (tmp_path / "tune").iterdir()) == ["report.json", "report.md"]


def test_a_failure_leaves_the_previous_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tune"
    write_artifacts(out, study_with(2), metric="accuracy", seed=0, plan={})
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(study: optuna.Study, folder: Path) -> list[str]:
        (folder / PLOTS[0]).write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr("ml_ci.tune.report.plots", broken)
    with pytest.raises(RuntimeError):
        write_artifacts(out, study_with(3), metric="accuracy", seed=0, plan={})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["tune"]
