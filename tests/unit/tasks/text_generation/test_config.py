"""text-generation's config half: its keys, their cross-key checks, its tunable adapter settings and what the
schema makes of them (the files are checked as `ml-ci validate` checks them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.config.load import load_config
from ml_ci.errors import ConfigError
from ml_ci.tasks.text_generation.config import of

HEAD = (
    "version: 1\nname: tg\ntask: text-generation\n"
    "data: {train: data/train.jsonl, validation: data/validation.jsonl}\nmodel: {base: base}\n"
)


def _load(tmp_path: Path, body: str) -> object:
    path = tmp_path / "ml.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    return load_config(path).config


def _problems(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, body)
    return [f"{p.path}: {p.message}" for p in e.value.problems if p.severity == "error"]


def test_defaults_are_a_lora_adapter_greedy_generation_and_a_minimized_loss(tmp_path: Path) -> None:
    config = _load(tmp_path, "")
    spec = of(config)  # type: ignore[arg-type]
    assert (spec.adapter.type, spec.adapter.rank, spec.adapter.alpha, spec.adapter.target_modules) == (
        "lora",
        8,
        16,
        "all-linear",
    )
    assert spec.generation.greedy and spec.generation.max_new_tokens == 64 and spec.prompts is None
    assert config.tune.metric == "loss" and config.tune.direction == "minimize"  # type: ignore[attr-defined]
    assert config.train.task_params == {"adapter.rank": 8, "adapter.alpha": 16, "adapter.dropout": 0.05}  # type: ignore[attr-defined]
    assert config.evaluate.metrics[:2] == ("loss", "perplexity")  # type: ignore[attr-defined]


def test_full_fine_tuning_has_no_adapter_to_tune(tmp_path: Path) -> None:
    config = _load(tmp_path, "train: {adapter: {type: none}}\n")
    assert of(config).adapter.type == "none" and config.train.task_params == {}  # type: ignore[arg-type, attr-defined]
    assert _problems(tmp_path, "train: {adapter: {type: none, rank: 16}}\n") == [
        "train.adapter.rank: 'rank' applies to a LoRA adapter; train.adapter.type is none"
    ]
    space = "tune: {enabled: true, search_space: {adapter.rank: {type: categorical, choices: [4, 8]}}}\n"
    assert _problems(tmp_path, "train: {adapter: {type: none}}\n" + space) == [
        "tune.search_space.adapter.rank: 'adapter.rank' tunes a LoRA adapter; train.adapter.type is none"
    ]


def test_the_adapter_is_tunable_and_its_values_checked_like_ml_yaml(tmp_path: Path) -> None:
    space = (
        "tune: {enabled: true, search_space: {adapter.rank: {type: categorical, choices: [4, 16]}, "
        "adapter.alpha: {type: float, low: 8, high: 64}}}\n"
    )
    config = _load(tmp_path, space)
    assert set(config.tune.search_space) == {"adapter.rank", "adapter.alpha"}  # type: ignore[attr-defined]
    from ml_ci.train.params import merge

    hp = merge(config.train, {"adapter.rank": 16}, task="text-generation")  # type: ignore[attr-defined]
    assert hp.task_params["adapter.rank"] == 16 and hp.task_params["adapter.alpha"] == 16
    with pytest.raises(ConfigError, match=r"adapter\.rank"):
        merge(config.train, {"adapter.rank": 0}, task="text-generation")  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        merge(config.train, {"adapter.rank": 4})  # type: ignore[attr-defined]  # a classifier's run knows no adapter


def test_an_adapter_is_no_parameter_of_a_classifier(tmp_path: Path) -> None:
    path = tmp_path / "ml.yaml"
    path.write_text(
        "version: 1\nname: demo\ndata: {train: d/t.csv, validation: d/v.csv, labels: [a, b]}\nmodel: {base: b}\n"
        "tune: {enabled: true, search_space: {adapter.rank: {type: categorical, choices: [4, 8]}}}\ntrain: {optimiser: adamw}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    messages = [p.message for p in e.value.problems]
    assert any(m.startswith("unknown key") and "learning_rate" in m and "adapter.rank" not in m for m in messages)
    # the unknown train key's suggestions are the classifier's keys, not text-generation's
    assert not any("packing" in m or "gradient_checkpointing" in m for m in messages), messages


def test_what_needs_the_prompt_set_or_another_runtime_is_refused(tmp_path: Path) -> None:
    metrics = "metrics: [loss, pass_rate, pass_rate.json], "
    gates = (
        "evaluate: {"
        + metrics
        + "gates: [{metric: pass_rate, min: 0.8}, {metric: pass_rate.json, min: 1.0}, {metric: loss, max: 2.0}]}\n"
    )
    assert _problems(tmp_path, gates) == [
        "evaluate.gates[0].metric: 'pass_rate' is measured on the prompt set: set evaluate.prompts (a JSON Lines file)",
        "evaluate.gates[1].metric: 'pass_rate.json' is measured on the prompt set: set evaluate.prompts (a JSON Lines file)",
    ]
    assert _load(tmp_path, gates.replace("evaluate: {", "evaluate: {prompts: eval/p.jsonl, "))
    assert _problems(tmp_path, "package: {quantize: int8}\n")[0].startswith("package.quantize: int8 is not available")
    assert _problems(tmp_path, "evaluate: {gates: [{metric: accuracy, min: 0.8}]}\n")[0].startswith("evaluate.gates[0].metric:")


def test_its_timings_stay_out_of_the_model_record_as_latency_does() -> None:
    from ml_ci.records.evaluation import headline

    metrics = {"loss": 1.2, "pass_rate": 0.5, "time_to_first_token_ms": 3.1, "tokens_per_second": 900.0, "latency_p50_ms": 9.0}
    assert headline({"task": "text-generation", "metrics": metrics, "verdict": "pass"}) == {
        "loss": 1.2,
        "pass_rate": 0.5,
        "verdict": "pass",
    }
    # a classifier's record is read as it always was (its task times nothing else)
    assert headline({"task": "text-classification", "metrics": {"accuracy": 0.9, "latency_p95_ms": 4.0}}) == {"accuracy": 0.9}
