"""text-generation's evaluation half on a tiny random Llama (tests/lm.py): the examples (records, then prompt items,
with their slice columns), the loss as the model's own, batched left-padded generation as each prompt alone, stop
strings and per-item limits, the record's rows read back, the paired statistics, the report and the plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ml_ci.config import Config, load_config
from ml_ci.errors import DataCheckError
from ml_ci.records.evaluation import EvalRecord
from ml_ci.tasks.text_generation import evaluation as ev
from ml_ci.tasks.text_generation import generate
from ml_ci.tasks.text_generation import scores as sc
from ml_ci.tasks.text_generation.config import of
from ml_ci.tasks.text_generation.runtime import Settings
from tests.lm import tiny_lm

ITEMS: list[dict[str, Any]] = [
    {
        "id": "sum",
        "prompt": "Q: what is 2 plus 2? A:",
        "tags": ["math"],
        "reference": "4",
        "assert": [{"type": "max-length", "value": 10000}],
    },
    {"id": "json", "prompt": "answer as JSON", "tags": ["json", "math"], "assert": [{"type": "is-json"}]},
    {"id": "chat", "messages": [{"role": "user", "content": "Hello, how can I help you today?"}], "max_new_tokens": 3},
]
RECORDS: dict[str, list[Any]] = {
    "prompt": ["Q: what is 1 plus 1? A:", "Q: what is 3 plus 4? A:"],
    "completion": [" 2", " 7"],
    "messages": [None, None],
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    tiny_lm(root / "base")
    (root / "eval").mkdir()
    (root / "eval" / "prompts.jsonl").write_text("".join(json.dumps(i) + "\n" for i in ITEMS), encoding="utf-8")
    return root


def lm_config(root: Path, **evaluate: Any) -> Config:
    data: dict[str, Any] = {
        "version": 1,
        "name": "tiny-lm",
        "task": "text-generation",
        "data": {"train": "data/train.jsonl", "validation": "data/validation.jsonl"},
        "model": {"base": "base/llama", "max_length": 64},
        "evaluate": {
            "prompts": "eval/prompts.jsonl",
            "metrics": ["loss", "perplexity", "pass_rate", "rouge_l", "chrf"],
            **evaluate,
        },
    }
    (root / "ml.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(root / "ml.yaml").config


@pytest.fixture(scope="module")
def loaded(repo: Path) -> ev.Model:
    return ev.load(repo / "base" / "llama", lm_config(repo))


def test_the_examples_are_the_records_then_the_prompt_items(repo: Path) -> None:
    found = ev.examples(lm_config(repo), "validation", dict(RECORDS), "sha256:f")
    assert found.texts == [
        "Q: what is 1 plus 1? A:",
        "Q: what is 3 plus 4? A:",
        ITEMS[0]["prompt"],
        "answer as JSON",
        "Hello, how can I help you today?",
    ]
    assert [type(c).__name__ for c in found.truth] == ["SplitRecord", "SplitRecord", "PromptItem", "PromptItem", "PromptItem"]
    assert found.columns == {
        "tag": [[], [], ["math"], ["json", "math"], []],
        "source": ["split", "split", "prompts", "prompts", "prompts"],
    }
    assert ev.key_inputs(lm_config(repo))["prompts"].startswith("sha256:")


def test_a_bad_prompt_file_stops_before_the_model(repo: Path) -> None:
    (repo / "eval" / "broken.jsonl").write_text(
        '{"prompt": "a", "assert": [{"type": "regex", "value": "("}]}\n', encoding="utf-8"
    )
    broken = lm_config(repo, prompts="eval/broken.jsonl")
    with pytest.raises(DataCheckError, match=r"eval/broken\.jsonl:1: assert\[0\]: regex: '\(' is not a valid regular expression"):
        ev.examples(broken, "validation", dict(RECORDS), None)
    lm_config(repo)  # ml.yaml back as the other tests read it


def test_the_loss_is_the_models_own_on_the_completion_tokens(repo: Path, loaded: ev.Model) -> None:
    import torch

    from ml_ci.tasks.text_generation import render

    config = lm_config(repo)
    out = ev.outputs(loaded, ev.examples(config, "validation", dict(RECORDS), None))
    losses = [o for o in out if isinstance(o, sc.Loss)]
    assert len(losses) == 2 and all(x.tokens > 0 for x in losses)
    for record, loss in zip(ev.examples(config, "validation", dict(RECORDS), None).truth[:2], losses, strict=True):
        enc = render.encode(render.render(record.record, loaded.tokenizer, of(config)), loaded.tokenizer, 64)  # type: ignore[union-attr]
        with torch.inference_mode():
            mean = loaded.model(input_ids=torch.tensor([enc["input_ids"]]), labels=torch.tensor([enc["labels"]])).loss
        assert loss.nll / loss.tokens == pytest.approx(float(mean), rel=1e-5)  # transformers' mean over the same tokens
    s = ev.score(config, ev.examples(config, "validation", dict(RECORDS), None).truth, out)
    assert s.metrics["loss"] == pytest.approx(sum(x.nll for x in losses) / sum(x.tokens for x in losses))
    assert s.metrics["perplexity"] == pytest.approx(math.exp(s.metrics["loss"]))  # type: ignore[arg-type]


def test_the_loss_is_measured_only_when_reported(repo: Path, loaded: ev.Model) -> None:
    from dataclasses import replace

    # (ml.yaml cannot leave loss out while tune.metric is loss, its default: the config is changed here.)
    full = lm_config(repo)
    config = replace(full, evaluate=replace(full.evaluate, metrics=("pass_rate",)))
    loaded_here = ev.Model(loaded.model, loaded.tokenizer, config, loaded.model_dir)
    out = ev.outputs(loaded_here, ev.examples(config, "validation", dict(RECORDS), None))
    assert out[:2] == [None, None] and all(isinstance(o, sc.Completion) for o in out[2:])


def test_batched_left_padded_generation_is_each_prompt_alone(loaded: ev.Model) -> None:
    tok = loaded.tokenizer
    prompts = [
        tok(p)["input_ids"] for p in ("Q: what is 12 plus 7? A:", "the", "Hello, how can I help you today? The quick brown fox")
    ]
    settings = Settings(max_new_tokens=6)
    together = generate.completions(loaded.model, tok, prompts, [6, 6, 6], settings, max_length=64)
    alone = [generate.completions(loaded.model, tok, [p], [6], settings, max_length=64)[0] for p in prompts]
    assert [c.text for c in together] == [c.text for c in alone]
    assert all(c.tokens <= 6 for c in together)


def test_limits_per_item_and_stop_strings(loaded: ev.Model) -> None:
    tok = loaded.tokenizer
    ids = tok("Q: what is 2 plus 2? A:")["input_ids"]
    free = generate.completions(loaded.model, tok, [ids, ids], [2, 8], Settings(), max_length=64)
    assert free[0].tokens <= 2 and free[0].finish in ("length", "eos")
    assert free[1].text.startswith(free[0].text)  # greedy: the longer is the shorter continued
    if len(free[1].text) > 2:  # a stop string inside the free completion cuts it there
        stop = free[1].text[1:3]
        cut = generate.completions(loaded.model, tok, [ids], [8], Settings(stop=(stop,)), max_length=64)[0]
        assert cut.finish == "stop" and cut.text == free[1].text[: free[1].text.find(stop)]
    assert generate.cut_at_stop("abc###def", ["###", "d"]) == 3 and generate.cut_at_stop("abc", ["x"]) is None
    assert generate.finish([5, 6, 0, 0], [0]) == ([5, 6], True) and generate.finish([5, 6], [0]) == ([5, 6], False)


def test_sampling_is_seeded(loaded: ev.Model) -> None:
    tok = loaded.tokenizer
    ids = [tok("the")["input_ids"]] * 3
    hot = Settings(max_new_tokens=8, temperature=1.5, seed=3)
    first = generate.completions(loaded.model, tok, ids, [8] * 3, hot, max_length=64)
    again = generate.completions(loaded.model, tok, ids, [8] * 3, hot, max_length=64)
    assert [c.text for c in first] == [c.text for c in again]


def evaluated(repo: Path, loaded: ev.Model) -> tuple[Config, sc.Cases, sc.Outputs]:
    config = lm_config(repo)
    found = ev.examples(config, "validation", dict(RECORDS), None)
    return config, found.truth, ev.outputs(loaded, found)


def test_rows_are_read_back_and_pair_with_the_current_assertions(repo: Path, loaded: ev.Model) -> None:
    config, truth, out = evaluated(repo, loaded)
    rows = ev.prediction_rows(config, truth, out)
    assert rows[0]["source"] == "split" and rows[0]["tokens"] > 0
    assert rows[2]["id"] == "sum" and rows[2]["line"] == 1 and rows[2]["passed"] is True
    assert rows[3]["passed"] is (rows[3]["assertions"][0]["passed"])
    assert rows[4]["passed"] is None and rows[4]["tokens"] <= 3  # no assertion; its own max_new_tokens
    _, back = ev.read_predictions(config, json.loads(json.dumps(rows)))
    assert [getattr(o, "text", None) for o in back] == [getattr(o, "text", None) for o in out]
    # A baseline whose "json" answer is valid JSON: it passes where the current one (random weights) does not.
    better = list(back)
    better[3] = sc.Completion('{"result": 4}', 5, "eos")
    idx = np.arange(len(truth), dtype=np.int64)
    p = ev.paired("pass_rate", truth, out, better, idx, idx)
    assert p is not None and p.n == 2 and p.correct is not None
    assert p.correct[1].tolist() == [True, True]
    assert ev.paired("pass_rate.json", truth, out, better, idx, idx).n == 1  # type: ignore[union-attr]
    loss = ev.paired("loss", truth, out, back, idx, idx)
    assert loss is not None and loss.n == 2
    cur, base = loss.statistic(np.array([0, 1]))
    # The record keeps each NLL to 6 decimals: the baseline read back is that close.
    assert cur == pytest.approx(ev.score(config, truth, out).metrics["loss"]) and base == pytest.approx(cur, abs=1e-5)
    assert ev.paired("rouge_l", truth, out, back, idx, idx).n == 1  # type: ignore[union-attr]
    assert ev.paired("chrf", truth, out, back, idx, idx).n == 1  # type: ignore[union-attr]
    assert ev.paired("size_mb", truth, out, back, idx, idx) is None
    with pytest.raises(KeyError):
        ev.read_predictions(config, [{"label": "x"}])


def test_the_report_names_failed_items_and_tags(repo: Path, loaded: ev.Model, tmp_path: Path) -> None:
    config, truth, out = evaluated(repo, loaded)
    forced = sc.Outputs([*out[:3], sc.Completion("not json", 2, "eos"), out[4]])
    s = ev.score(config, truth, forced)
    record = EvalRecord(
        name="tiny-lm",
        task="text-generation",
        split="validation",
        metrics=s.metrics,
        task_head=ev.record_head(config),
        task_scores=s.record,
        predictions=tuple(
            {"index": i, "text_sha256": str(i), **r} for i, r in enumerate(ev.prediction_rows(config, truth, forced))
        ),
    )
    assert record.task_head["tags"] == ["json", "math"]
    # The task's keys in eval.json never shadow the generic ones (`split` is the role), and are read back whole.
    back = EvalRecord.from_json(json.loads(json.dumps(record.to_json())), ev.RECORD_HEAD)
    assert back.split == "validation"
    assert (back.task_head, back.task_scores) == (record.task_head, record.task_scores)
    assert list(back.task_head) == ["prompt_set", "generation", "tags"] and list(back.task_scores) == ["records", "prompt_items"]
    parts = ev.report(record)
    titles = [t for t, _ in parts.sections]
    assert titles == ["Failed assertions", "Pass rate per tag", "Sampled outputs"]  # no baseline: the first items
    assert "| json | answer as JSON | not json ✗ |" in dict(parts.sections)["Sampled outputs"]
    failed = dict(parts.sections)["Failed assertions"]
    assert "| json | answer as JSON | not json | is-json: output not JSON (Expecting value at line 1 column 1) |" in failed
    assert "1 of 2 items with assertions passed; 1 have a reference." in failed
    assert "json (eval/prompts.jsonl:2): is-json: output not JSON" in "\n".join(parts.text)
    assert "| json | 1 | 0 | 0 |" in dict(parts.sections)["Pass rate per tag"].replace(".0000", "")
    images = ev.plots(record, tmp_path)
    assert [p.name for p in images] == ["pass_rate_per_tag.png"] and images[0].stat().st_size > 0


def test_speed_keeps_each_prompts_fastest_run() -> None:
    runs = iter([(9.0, 1.0), (0.004, 50.0), (0.002, None), (0.003, 70.0), (0.010, None), (0.020, None), (0.030, None)])
    seen: list[tuple[int, ...]] = []

    def run(ids: Any) -> tuple[float, float | None]:
        seen.append(tuple(ids))
        return next(runs)

    ttft, tps = ev.time_prompts(run, [[1], [2]], repeats=3, warmup=1)
    assert seen == [(1,), (1,), (1,), (1,), (2,), (2,), (2,)]  # one warm-up run, untimed
    assert ttft == pytest.approx([2.0, 10.0])  # ms: the fastest first token of each prompt's three runs
    assert tps == [70.0]  # the fastest decode; a prompt whose runs had under two tokens has none


def test_a_chat_item_without_a_chat_template_names_its_line(repo: Path, loaded: ev.Model) -> None:
    import copy

    tokenizer = copy.copy(loaded.tokenizer)
    tokenizer.chat_template = None
    config = lm_config(repo)
    bare = ev.Model(loaded.model, tokenizer, config, loaded.model_dir)
    with pytest.raises(DataCheckError, match=r"^eval/prompts\.jsonl:3: chat records need a chat template"):
        ev.outputs(bare, ev.examples(config, "validation", dict(RECORDS), None))


def test_speed_of_a_model_that_cannot_be_served_says_so(repo: Path) -> None:
    from ml_ci.errors import OperationalError

    gpt2 = tiny_lm(repo / "base", "gpt2")  # ONNX Runtime GenAI's builder does not convert GPT-2
    config = lm_config(repo, metrics=["loss", "time_to_first_token_ms"])
    with pytest.raises(OperationalError, match=r"^time_to_first_token_ms and tokens_per_second are measured on the model as it"):
        ev.measure_speed(ev.Model(None, None, config, gpt2), [[1, 2]])
    lm_config(repo)
