"""`ml-ci train` then `ml-ci evaluate` of a text-generation model, through the real CLI in subprocesses as CI runs
them (test_train's `ml_ci`), on test_llm_export's repository (examples/assistant's data, a tiny random Llama as
model.base, one short epoch: the point is the mechanics, not the quality) with a prompt set of our own: the
split's loss and the prompt set's scores in eval.json, the speed through the exported model, a pass-rate gate that
fails naming the prompt (exit 4), gates against a production baseline decided per item (McNemar), and a bad prompt
file refused naming its line (exit 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_llm_export import make_repo
from tests.integration.test_train import ml_ci

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEVER = "zzzz-never"  # no completion of this model holds it
ITEMS: list[dict[str, Any]] = [
    {
        "id": "sum",
        "prompt": "what is 2 plus 3? answer with a sentence\n",
        "tags": ["sentence"],
        "reference": "the sum of 2 and 3 is 5",
        "assert": [{"type": "max-length", "value": 1000}],
    },
    *(
        {
            "id": f"impossible-{i}",
            "prompt": f"what is {i} plus {i}? answer as JSON\n",
            "tags": ["json"],
            "assert": [{"type": "contains", "value": NEVER}],
        }
        for i in range(1, 7)
    ),
    {
        "id": "short",
        "prompt": "what is 1 minus 1? answer as JSON\n",
        "tags": ["json"],
        "max_new_tokens": 2,
        "assert": [{"type": "not-contains", "value": NEVER}, {"type": "max-length", "value": 1000}],
    },
]
EVALUATE: dict[str, Any] = {
    "split": "test",
    "metrics": [
        "loss",
        "perplexity",
        "pass_rate",
        "pass_rate.json",
        "rouge_l",
        "chrf",
        "time_to_first_token_ms",
        "tokens_per_second",
    ],
    "prompts": "eval/prompts.jsonl",
    "generation": {"max_new_tokens": 8},
    "latency_samples": 2,
    "allow_missing_baseline": True,
    "gates": [{"metric": "pass_rate", "min": 0.0}],
    "slices": [{"name": "tag", "column": "tag", "min_rows": 1}],
}


def write_config(root: Path, **evaluate: Any) -> None:
    """test_llm_export's repository's ml.yaml with this module's evaluate section (`evaluate` over it)."""
    config = yaml.safe_load((root / "ml.yaml").read_text(encoding="utf-8"))
    config["evaluate"] = {**EVALUATE, **evaluate}
    (root / "ml.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def write_prompts(root: Path, name: str, items: list[Any]) -> None:
    (root / "eval").mkdir(exist_ok=True)
    lines = [item if isinstance(item, str) else json.dumps(item) for item in items]
    (root / "eval" / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("assistant"))  # examples/assistant's data, a tiny Llama, a short training
    write_prompts(root, "prompts.jsonl", ITEMS)
    write_config(root)
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    return root


def record(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".ml-ci/artifacts/evaluate/eval.json").read_text(encoding="utf-8"))
    return data


def test_evaluate_scores_the_split_the_prompt_set_and_the_served_speed(trained: Path) -> None:
    done = ml_ci(trained, "evaluate", "--no-cache")
    assert done.returncode == 0, done.stderr
    r = record(trained)
    m = r["metrics"]
    assert r["split"] == "test" and r["examples"] == 60 + len(ITEMS)
    assert m["loss"] > 0 and m["perplexity"] > 1
    assert m["pass_rate"] == pytest.approx(2 / 8) and m["pass_rate.json"] == pytest.approx(1 / 7)
    assert m["pass_rate.sentence"] == 1.0
    assert 0 <= m["rouge_l"] <= 1 and 0 <= m["chrf"] <= 100
    assert m["time_to_first_token_ms"] > 0 and m["tokens_per_second"] > 0
    assert "onnxruntime-genai" in r["speed"]["runtime"] and r["speed"]["prompts"] == 2
    rows = r["predictions"]
    assert [row["source"] for row in rows].count("split") == 60 and all(row["tokens"] > 0 for row in rows[:60])
    short = next(row for row in rows if row.get("id") == "short")
    assert short["tokens"] <= 2 and short["passed"] is True  # its own max_new_tokens
    assert {s["name"] for s in r["slices"]} == {"tag:json", "tag:sentence"}
    report = (trained / ".ml-ci/artifacts/evaluate/report.md").read_text(encoding="utf-8")
    assert "#### Failed assertions" in report and "impossible-3 | what is 3 plus 3? answer as JSON" in report
    assert (trained / ".ml-ci/artifacts/evaluate/pass_rate_per_tag.png").is_file()


def test_a_failed_pass_rate_gate_exits_4_naming_the_prompts(trained: Path) -> None:
    write_config(trained, gates=[{"metric": "pass_rate", "min": 0.9}])
    try:
        done = ml_ci(trained, "evaluate")
    finally:
        write_config(trained)
    assert done.returncode == 4, done.stderr
    assert "pass_rate >= 0.9 failed: 0.2500 < 0.9" in done.stderr
    assert f"impossible-1 (eval/prompts.jsonl:2): contains: output does not contain '{NEVER}'" in done.stdout
    assert "sum (eval/prompts.jsonl:1)" not in done.stdout


def test_gates_against_production_pair_the_items(trained: Path, tmp_path: Path) -> None:
    gates = [
        {"metric": "pass_rate", "against": "production", "max_drop": 0.0, "significance": 0.05},
        {"metric": "loss", "against": "production", "max_drop": 0.0, "significance": 0.05},
    ]
    assert ml_ci(trained, "evaluate").returncode == 0
    same = tmp_path / "same.json"
    shutil.copyfile(trained / ".ml-ci/artifacts/evaluate/eval.json", same)
    write_config(trained, gates=gates, allow_missing_baseline=False)
    try:
        done = ml_ci(trained, "evaluate", "--no-cache", "--baseline", str(same))
        assert done.returncode == 0, done.stderr
        assert {g["metric"]: g["status"] for g in record(trained)["gates"]} == {"pass_rate": "pass", "loss": "pass"}
        # A production model that answered the six impossible items and had half the loss on every record: this one
        # is worse item by item and record by record.
        better = json.loads(same.read_text(encoding="utf-8"))
        for row in better["predictions"]:
            if str(row.get("id", "")).startswith("impossible-"):
                row["output"] = f"{NEVER} {row['output']}"
            if row["source"] == "split":
                row["nll"] /= 2
        better["metrics"]["pass_rate"] = 1.0
        better["metrics"]["loss"] /= 2
        (tmp_path / "better.json").write_text(json.dumps(better), encoding="utf-8")
        done = ml_ci(trained, "evaluate", "--no-cache", "--baseline", str(tmp_path / "better.json"))
    finally:
        write_config(trained)
    assert done.returncode == 4, done.stderr
    assert "pass_rate vs production (max drop 0) failed:" in done.stderr and "loss vs production" in done.stderr
    gate = {g["metric"]: g for g in record(trained)["gates"]}
    assert gate["pass_rate"]["test"] == "mcnemar" and gate["pass_rate"]["paired_examples"] == len(ITEMS)
    assert gate["pass_rate"]["p_value"] == pytest.approx(0.5**6)  # six discordant items, all the baseline's
    assert gate["loss"]["test"] == "paired-bootstrap" and gate["loss"]["paired_examples"] == 60
    assert gate["loss"]["p_value"] < 0.01
    report = (trained / ".ml-ci/artifacts/evaluate/report.md").read_text(encoding="utf-8")
    assert "#### Outputs beside the baseline's" in report and f"| {NEVER}" in report


def test_a_bad_prompt_file_exits_3_naming_its_line(trained: Path) -> None:
    write_prompts(trained, "bad.jsonl", [ITEMS[0], {"prompt": "x", "assert": [{"type": "regex", "value": "(unclosed"}]}, "{oops"])
    write_config(trained, prompts="eval/bad.jsonl")
    try:
        done = ml_ci(trained, "evaluate", "--no-cache")
        write_config(trained, prompts="eval/missing.jsonl")
        missing = ml_ci(trained, "evaluate", "--no-cache")
    finally:
        write_config(trained)
    assert done.returncode == 3, done.stderr
    assert "eval/bad.jsonl:2: assert[0]: regex: '(unclosed' is not a valid regular expression" in done.stderr
    assert "eval/bad.jsonl:3: not JSON" in done.stderr and "Traceback" not in done.stderr
    assert missing.returncode == 1 and "eval/missing.jsonl: no such file (named by evaluate.prompts in ml.yaml" in missing.stderr
