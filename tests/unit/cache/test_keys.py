"""Each cached stage's key against each of its inputs: flipping one is a miss, and changing what the
stage does not read is not (so that, e.g., a new gate never re-exports)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ml_ci import versions
from ml_ci.data import check
from ml_ci.evaluate import stage as evaluate_stage
from ml_ci.evaluate.baseline import BaselineSources
from ml_ci.export import stage as export_stage
from ml_ci.pipeline.layout import Layout
from ml_ci.train import stage as train_stage
from ml_ci.tune import run as tune_run
from ml_ci.tune.plan import plan_study
from tests.unit.cache.scratch import append, config, scratch, set_yaml, write_json


@dataclass
class Ctx:
    """What a flip may change besides files: the environment and the command-line options."""

    monkeypatch: pytest.MonkeyPatch
    env: dict[str, str] = field(default_factory=dict)
    model: Path | None = None
    trials: int | None = None


Flip = Callable[[Path, Ctx], None]
KeyOf = Callable[[Path, Ctx], str]


def evaluate_key(root: Path, ctx: Ctx) -> str:
    return evaluate_stage.gather_inputs(config(root), evaluate_stage.Options(model=ctx.model), ctx.env).key


def export_key(root: Path, ctx: Ctx) -> str:
    # export_epoch asks git for the commit's time, a process: the epoch it gives is SOURCE_DATE_EPOCH's here.
    epoch = int(ctx.env["SOURCE_DATE_EPOCH"]) if "SOURCE_DATE_EPOCH" in ctx.env else None
    return export_stage.key_of(config(root), ctx.model or Layout(root).model_dir, epoch)[0]


def tune_key(root: Path, ctx: Ctx) -> str:
    cfg = config(root)
    plan = plan_study(cfg, data_fingerprint=tune_run.data_fingerprint(cfg), env=ctx.env, trials=ctx.trials)
    return tune_run.key_of(cfg, plan, ctx.env)[0]


def train_key(root: Path, ctx: Ctx) -> str:
    return train_stage.gather_inputs(config(root), None).key


def check_key(root: Path, ctx: Ctx) -> str:
    return check.key_of(config(root))[0]


def yaml_flip(dotted: str, value: object) -> Flip:
    def flip(root: Path, ctx: Ctx) -> None:
        set_yaml(root, dotted, value)

    flip.__name__ = f"{dotted}={value}"
    return flip


def file_flip(rel: str, text: str = "one more,positive\n") -> Flip:
    def flip(root: Path, ctx: Ctx) -> None:
        append(root, rel, text)

    flip.__name__ = f"content of {rel}"
    return flip


def env_flip(name: str, value: str) -> Flip:
    def flip(root: Path, ctx: Ctx) -> None:
        ctx.env[name] = value

    flip.__name__ = f"${name}"
    return flip


def a_library_version(root: Path, ctx: Ctx) -> None:
    real = versions.package_versions
    ctx.monkeypatch.setattr(versions, "package_versions", lambda names: {**real(names), "torch": "9.9"})


def the_ml_ci_version(root: Path, ctx: Ctx) -> None:
    real = versions.package_versions
    ctx.monkeypatch.setattr(versions, "package_versions", lambda names: {**real(names), "ml-ci": "9.9"})


def the_model_weights(root: Path, ctx: Ctx) -> None:
    (Layout(root).model_dir / "model.safetensors").write_bytes(b"retrained")


def the_model_tokenizer(root: Path, ctx: Ctx) -> None:
    append(root, ".ml-ci/artifacts/train/model/tokenizer.json", " ")


def a_model_folder_elsewhere(root: Path, ctx: Ctx) -> None:
    ctx.model = root / "other-model"
    shutil.copytree(Layout(root).model_dir, ctx.model)


def the_base_model(root: Path, ctx: Ctx) -> None:
    (root / "models/base/model.safetensors").write_bytes(b"another base")


def train_metrics(root: Path, ctx: Ctx) -> None:
    write_json(Layout(root).artifacts("train") / "metrics.json", {"loss_curve": [[1, 0.5]]})


def train_lineage(root: Path, ctx: Ctx) -> None:
    write_json(Layout(root).artifacts("train") / "lineage.json", {"cache_key": "other"})


def eval_metrics(root: Path, ctx: Ctx) -> None:
    write_json(Layout(root).eval_record, {"metrics": {"accuracy": 0.8}, "verdict": "pass", "created": "2026-01-01"})


def eval_verdict(root: Path, ctx: Ctx) -> None:
    write_json(Layout(root).eval_record, {"metrics": {"accuracy": 0.9}, "verdict": "fail", "created": "2026-01-01"})


def eval_latency_only(root: Path, ctx: Ctx) -> None:
    write_json(
        Layout(root).eval_record,
        {"metrics": {"accuracy": 0.9, "latency_p50_ms": 7.5, "latency_p95_ms": 9.1}, "verdict": "pass", "created": "2026-01-01"},
    )


def eval_created_only(root: Path, ctx: Ctx) -> None:
    write_json(Layout(root).eval_record, {"metrics": {"accuracy": 0.9}, "verdict": "pass", "created": "2026-02-02"})


def tune_trials_option(root: Path, ctx: Ctx) -> None:
    ctx.trials = 1


def the_golden_examples_asked(root: Path, ctx: Ctx) -> None:
    set_yaml(root, "image", {"repository": "acme/tiny"})
    set_yaml(
        root,
        "deploy",
        {
            "strategy": "gitops",
            "gitops": {"repo": "acme/deploy", "path": "apps/tiny"},
            "environments": [{"name": "staging", "kind": "local", "port": 18099, "smoke_test": {"golden_examples": 50}}],
        },
    )


def a_deploy_port(root: Path, ctx: Ctx) -> None:
    set_yaml(root, "image", {"repository": "acme/tiny"})
    set_yaml(
        root,
        "deploy",
        {
            "strategy": "gitops",
            "gitops": {"repo": "acme/deploy", "path": "apps/tiny"},
            "environments": [{"name": "staging", "kind": "local", "port": 18098}],
        },
    )


def a_reference_split(root: Path, ctx: Ctx) -> None:
    shutil.copyfile(root / "data/train.csv", root / "data/reference.csv")
    set_yaml(root, "data.reference", "data/reference.csv")


LABELS = yaml_flip("data.labels", ["negative", "positive", "neutral"])
TEXT_COLUMN = yaml_flip("data.text_column", "sentence")
NAME = yaml_flip("name", "renamed")
MAX_LENGTH = yaml_flip("model.max_length", 48)
GATE = yaml_flip("evaluate.gates", [{"metric": "accuracy", "min": 0.9}])
CHECK = yaml_flip("data.checks.min_rows", 5)
EPOCHS = yaml_flip("train.epochs", 2)
QUANTIZE = yaml_flip("package.quantize", "int8")
TRAIN_DATA, VALIDATION_DATA, TEST_DATA = (file_flip(f"data/{s}.csv") for s in ("train", "validation", "test"))

MISSES: dict[str, tuple[KeyOf, list[Flip]]] = {
    "data-check": (
        check_key,
        [
            TRAIN_DATA,
            VALIDATION_DATA,
            TEST_DATA,
            a_reference_split,
            CHECK,
            yaml_flip("data.checks.leakage", False),
            yaml_flip("data.checks.drift.threshold", 0.5),
            yaml_flip("data.checks.text_length.max", 100),
            LABELS,
            TEXT_COLUMN,
            yaml_flip("data.label_column", "target"),
            yaml_flip("data.format", "csv"),
            yaml_flip("data.test", "data/validation.csv"),
            a_library_version,
            the_ml_ci_version,
        ],
    ),
    "tune": (
        tune_key,
        [
            TRAIN_DATA,
            VALIDATION_DATA,
            yaml_flip("tune.trials", 5),
            yaml_flip("tune.sampler", "random"),
            yaml_flip("tune.pruner", "none"),
            yaml_flip("tune.metric", "f1_macro"),
            yaml_flip("tune.direction", "minimize"),
            yaml_flip("tune.timeout_minutes", 5),
            yaml_flip("tune.workers", 2),
            yaml_flip("tune.search_space.learning_rate.high", 1e-2),
            EPOCHS,
            yaml_flip("train.seed", 1),
            yaml_flip("train.batch_size", 8),
            MAX_LENGTH,
            the_base_model,
            LABELS,
            TEXT_COLUMN,
            tune_trials_option,
            env_flip("ML_CI_TUNE_WORKER", "1"),
            env_flip("ML_CI_TUNE_FIT", "tests.fake:fit"),
            a_library_version,
            the_ml_ci_version,
        ],
    ),
    "train": (
        train_key,
        [
            TRAIN_DATA,
            VALIDATION_DATA,
            EPOCHS,
            yaml_flip("train.seed", 1),
            yaml_flip("train.learning_rate", 3e-4),
            yaml_flip("train.batch_size", 8),
            yaml_flip("train.class_weights", "balanced"),
            yaml_flip("train.class_weights", {"positive": 3}),
            MAX_LENGTH,
            the_base_model,
            LABELS,
            TEXT_COLUMN,
            yaml_flip("data.label_column", "target"),
            a_library_version,
            the_ml_ci_version,
        ],
    ),
    "evaluate": (
        evaluate_key,
        [
            TEST_DATA,
            QUANTIZE,
            the_model_weights,
            the_model_tokenizer,
            a_model_folder_elsewhere,
            GATE,
            yaml_flip("evaluate.metrics", ["accuracy"]),
            yaml_flip("evaluate.latency_samples", 3),
            yaml_flip("evaluate.allow_missing_baseline", False),
            yaml_flip("evaluate.split", "validation"),
            yaml_flip(
                "evaluate.slices",
                [
                    {
                        "name": "short",
                        "length": {"min": 0, "max": 20},
                        "min_rows": 1,
                        "gates": [{"metric": "accuracy", "min": 0.5}],
                    }
                ],
            ),
            yaml_flip("data.slice_columns", ["source"]),
            LABELS,
            TEXT_COLUMN,
            NAME,
            MAX_LENGTH,
            train_metrics,
            env_flip("GITHUB_SHA", "abc123"),
            env_flip("GITHUB_REF_NAME", "feature"),
            a_library_version,
            the_ml_ci_version,
        ],
    ),
    "export": (
        export_key,
        [
            VALIDATION_DATA,
            TEST_DATA,
            the_model_weights,
            the_model_tokenizer,
            QUANTIZE,
            yaml_flip("package.opset", 18),
            yaml_flip("package.min_agreement", 0.9),
            yaml_flip("package.max_accuracy_drop", 0.05),
            LABELS,
            TEXT_COLUMN,
            NAME,
            MAX_LENGTH,
            the_golden_examples_asked,
            train_lineage,
            eval_metrics,
            eval_verdict,
            a_library_version,
            the_ml_ci_version,
            env_flip("SOURCE_DATE_EPOCH", "1700000000"),
        ],
    ),
}

# What each stage does not read: changing it must keep the key (no needless recomputation).
HITS: dict[str, list[Flip]] = {
    "data-check": [EPOCHS, GATE, QUANTIZE, MAX_LENGTH, train_metrics, the_model_weights, env_flip("GITHUB_SHA", "x")],
    "tune": [TEST_DATA, CHECK, GATE, QUANTIZE, the_model_weights, env_flip("GITHUB_SHA", "x")],
    "train": [
        TEST_DATA,
        a_reference_split,
        yaml_flip("data.test", "data/validation.csv"),
        CHECK,
        GATE,
        QUANTIZE,
        yaml_flip("tune.trials", 5),
        the_model_weights,
        train_metrics,
        eval_metrics,
        env_flip("GITHUB_SHA", "x"),
    ],
    "evaluate": [TRAIN_DATA, VALIDATION_DATA, CHECK, EPOCHS, the_base_model, train_lineage, eval_metrics],
    "export": [
        TRAIN_DATA,
        CHECK,
        EPOCHS,
        GATE,
        the_base_model,
        train_metrics,
        eval_created_only,
        eval_latency_only,
        a_deploy_port,
        env_flip("GITHUB_SHA", "x"),
    ],
}


def _cases(table: dict[str, list[Flip]]) -> list[object]:
    return [pytest.param(stage, flip, id=f"{stage}: {flip.__name__}") for stage, flips in table.items() for flip in flips]


@pytest.mark.parametrize(("stage", "flip"), _cases({s: flips for s, (_, flips) in MISSES.items()}))
def test_a_changed_input_is_a_miss(stage: str, flip: Flip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_of = MISSES[stage][0]
    root, ctx = scratch(tmp_path / "repo"), Ctx(monkeypatch)
    before = key_of(root, ctx)
    assert key_of(root, ctx) == before  # nothing changed yet: the key is stable
    flip(root, ctx)
    assert key_of(root, ctx) != before


@pytest.mark.parametrize(("stage", "flip"), _cases(HITS))
def test_what_a_stage_does_not_read_keeps_its_key(
    stage: str, flip: Flip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_of = MISSES[stage][0]
    root, ctx = scratch(tmp_path / "repo"), Ctx(monkeypatch)
    before = key_of(root, ctx)
    flip(root, ctx)
    assert key_of(root, ctx) == before


@pytest.mark.parametrize("stage", ["data-check", "evaluate", "export"])
def test_a_moved_repository_keeps_its_keys(stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_of = MISSES[stage][0]
    root = scratch(tmp_path / "a")
    before = key_of(root, Ctx(monkeypatch))
    shutil.copytree(root, tmp_path / "b")
    assert key_of(tmp_path / "b", Ctx(monkeypatch)) == before


def test_tune_keys_on_the_storage_but_not_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = scratch(tmp_path / "repo")

    def key(url: str | None) -> str:
        return tune_key(root, Ctx(monkeypatch, env={"OPTUNA_STORAGE": url} if url else {}))

    default, shared = key(None), key("postgresql://u:one@127.0.0.1/db")
    assert len({default, shared, key("postgresql://u:one@127.0.0.1/other")}) == 3
    assert key("postgresql://u:two@127.0.0.1/db") == shared  # the same database, another password


def test_evaluate_keys_on_each_baselines_source_and_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = scratch(tmp_path / "repo")
    set_yaml(root, "evaluate.gates", [{"metric": "accuracy", "against": "main", "max_drop": 0.01}])
    record = {
        "kind": "ml-ci/eval",
        "format": 1,
        "name": "tiny-sentiment",
        "task": "text-classification",
        "labels": ["negative", "positive"],
        "metrics": {"accuracy": 0.9},
    }
    base = tmp_path / "main/eval.json"
    write_json(base, record)

    def key(source: Path | None) -> str:
        options = evaluate_stage.Options(sources=BaselineSources(main=source))
        return evaluate_stage.gather_inputs(config(root), options, {}).key

    keys = [key(None), key(base)]
    write_json(base, {**record, "metrics": {"accuracy": 0.95}})
    keys.append(key(base))
    shutil.copyfile(base, tmp_path / "copy.json")
    keys.append(key(tmp_path / "copy.json"))  # the same record from elsewhere: the eval.json names its source
    assert len(set(keys)) == 4
    assert key(base) == keys[2]


def test_an_unpinned_hub_split_turns_the_cache_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = scratch(tmp_path / "repo")
    set_yaml(
        root,
        "data",
        {
            "hub": {"id": "org/reviews", "splits": {"train": "train", "validation": "validation", "test": "test"}},
            "labels": ["negative", "positive"],
        },
    )
    assert check.key_of(config(root))[1] == ["test", "train", "validation"]
    assert evaluate_stage.gather_inputs(config(root), evaluate_stage.Options(), {}).unseen == ["test"]
    assert export_stage.key_of(config(root), Layout(root).model_dir, None)[1] == ["test", "validation"]
    set_yaml(root, "data.hub.revision", "0123abc")
    assert check.key_of(config(root))[1] == []
