"""examples/assistant: the text-generation example is valid, its committed data and prompt set are what its
seeded make_data.py writes, and no question text is in two places (the splits and the prompt set)."""

from __future__ import annotations

import json
import runpy
from typing import Any

from ml_ci.config import load_config
from ml_ci.tasks.text_generation import config as tg_config
from tests.conftest import EXAMPLE

ASSISTANT = EXAMPLE.parent / "assistant"


def _lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ASSISTANT / path).read_text(encoding="utf-8").splitlines()]


def test_the_assistant_example_is_valid() -> None:
    loaded = load_config(ASSISTANT / "ml.yaml")
    # As the other examples: its GitOps repository is on disk, on purpose.
    assert [(p.path, p.severity) for p in loaded.warnings] == [("deploy.gitops.repo", "warning")]
    spec = tg_config.of(loaded.config)
    assert (spec.adapter.type, spec.prompts, spec.generation.greedy) == ("lora", "eval/prompts.jsonl", True)
    assert "lm_head" in spec.adapter.target_modules  # the random base's head: see the comment in ml.yaml
    assert loaded.config.tune.enabled and loaded.config.tune.trials == 2
    assert {"pass_rate.json", "pass_rate.exact"} <= set(loaded.config.evaluate.metrics)
    # Staging and production without approval: the release ends with a live production.
    assert loaded.config.deploy is not None
    environments = loaded.config.deploy.environments
    assert [(e.name, e.kind, e.approval) for e in environments] == [("staging", "local", False), ("production", "local", False)]
    # The alerts on what a language model's users feel, beside the generic ones.
    monitoring = loaded.config.monitoring
    assert (monitoring.time_to_first_token_p95_ms, monitoring.min_tokens_per_second) == (1000, 20)


def test_the_committed_files_are_make_datas_output() -> None:
    made = runpy.run_path(str(ASSISTANT / "make_data.py"))["build"](0)
    for split in ("train", "validation", "test"):
        assert _lines(f"data/{split}.jsonl") == made[split], split
    assert _lines("eval/prompts.jsonl") == made["prompts"]


def test_no_question_is_in_two_places() -> None:
    places = {split: [r["prompt"] for r in _lines(f"data/{split}.jsonl")] for split in ("train", "validation", "test")}
    places["prompts"] = [item["prompt"] for item in _lines("eval/prompts.jsonl")]
    every = [prompt for prompts in places.values() for prompt in prompts]
    assert len(every) == len(set(every)) == 620
    tags = [tag for item in _lines("eval/prompts.jsonl") for tag in item["tags"]]
    assert {tag: tags.count(tag) for tag in set(tags)} == {"json": 16, "sentence": 12, "exact": 16}
