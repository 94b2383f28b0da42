"""`ml-ci train` and `ml-ci tune` of a text-generation model through the real CLI in subprocesses, as CI runs them
(test_train's `ml_ci`), on a repository holding a tiny random causal LM (tests/lm.py) and a few hundred bytes of
records: the LoRA adapter folder, the validation loss and perplexity, lineage and card, a cache hit on rerun; chat
records packed with gradient checkpointing; QLoRA refused without a GPU; tuning over the adapter's rank; and DDP
with two gloo processes. A few steps each: the point is the mechanics, not the quality."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_train import ml_ci
from tests.lm import tiny_lm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN: dict[str, Any] = {
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 0.02,
    "warmup_ratio": 0.0,
    "seed": 7,
    "precision": "fp32",
    "adapter": {"type": "lora", "rank": 4, "alpha": 8},
}


def sums() -> dict[str, list[tuple[int, int]]]:
    """Disjoint sums per split (no prompt leaks from one split into another)."""
    pairs = [(a, b) for a in range(20) for b in range(20)]
    random.Random(0).shuffle(pairs)
    return {"train": pairs[:48], "validation": pairs[48:64], "test": pairs[64:80]}


def pair_records(pairs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [{"prompt": f"Q: what is {a} plus {b}? A:", "completion": f" {a + b}"} for a, b in pairs]


def chat_records(pairs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "answer with the number"},
                {"role": "user", "content": f"what is {a} plus {b}?"},
                {"role": "assistant", "content": str(a + b)},
                {"role": "user", "content": "and times 2?"},
                {"role": "assistant", "content": str(2 * (a + b))},
            ]
        }
        for a, b in pairs
    ]


def make_repo(root: Path, kind: str = "llama", *, chat: bool = False, **sections: Any) -> Path:
    tiny_lm(root / "models", kind)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, pairs in sums().items():
        records = chat_records(pairs) if chat else pair_records(pairs)
        (root / f"data/{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    config: dict[str, Any] = {
        "version": 1,
        "name": "tiny-lm",
        "task": "text-generation",
        "data": {"train": "data/train.jsonl", "validation": "data/validation.jsonl", "test": "data/test.jsonl"},
        "model": {"base": f"models/{kind}", "max_length": 256 if chat else 32},
        "train": TRAIN,
        "evaluate": {"metrics": ["loss", "perplexity"]},
    }
    config.update(sections)
    (root / "ml.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


def artifacts(root: Path, stage: str) -> Path:
    return root / ".ml-ci/artifacts" / stage


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("llm"))
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    return root


def test_train_saves_the_adapter_with_loss_and_perplexity(trained: Path) -> None:
    out = artifacts(trained, "train")
    model = out / "model"
    assert (model / "adapter_config.json").is_file() and (model / "adapter_model.safetensors").is_file()
    assert (
        not (model / "model.safetensors").exists() and not (model / "README.md").exists()
    )  # the adapter, not a copy of the base
    assert read(model / "adapter_config.json")["r"] == 4
    metrics = read(out / "metrics.json")
    validation = metrics["validation"]
    assert validation["perplexity"] == pytest.approx(2.718281828459045 ** validation["loss"], rel=1e-6)
    curve = [e["loss"] for e in metrics["eval_curve"]]
    assert len(curve) == 2 and curve[-1] < curve[0]  # two epochs, the validation loss falls
    lineage = read(out / "lineage.json")
    assert lineage["adapter"] == {"type": "lora", "target_modules": "all-linear", "quantize_base": "none"}
    assert lineage["hyperparameters"]["adapter.rank"] == 4 and lineage["packing"] is False
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "pipeline_tag: text-generation" in card and "PeftModel.from_pretrained" in card
    again = ml_ci(trained, "train")
    assert again.returncode == 0 and "train: cache hit" in again.stdout, again.stdout + again.stderr


def test_chat_records_train_packed_with_gradient_checkpointing(tmp_path: Path) -> None:
    root = make_repo(tmp_path, "qwen2", chat=True, train={**TRAIN, "epochs": 1, "packing": True, "gradient_checkpointing": True})
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    lineage = read(artifacts(root, "train") / "lineage.json")
    assert lineage["packing"] is True and lineage["gradient_checkpointing"] is True
    # 48 chats of about 75 tokens, packed three to a 256-token row
    line = next(x for x in done.stderr.splitlines() if x.startswith("training "))
    assert " on 16 rows" in line, line
    assert 0 < read(artifacts(root, "train") / "metrics.json")["validation"]["loss"] < 20


def test_qlora_without_a_gpu_is_a_config_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: QLoRA is allowed here")
    root = make_repo(tmp_path, train={**TRAIN, "adapter": {"type": "lora", "quantize_base": "4bit"}})
    done = ml_ci(root, "train")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "train.adapter.quantize_base" in done.stderr and "need a CUDA GPU" in done.stderr
    assert "Traceback" not in done.stderr and not (artifacts(root, "train") / "model").exists()


def test_tuning_searches_the_adapters_rank(tmp_path: Path) -> None:
    """Two trials over learning rate and adapter.rank, chosen on the validation loss (lower is better); train with
    the best parameters restores the best trial's adapter, of the rank it chose."""
    tune = {
        "enabled": True,
        "trials": 2,
        "metric": "loss",
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "adapter.rank": {"type": "categorical", "choices": [2, 8]},
        },
    }
    root = make_repo(tmp_path, train={**TRAIN, "epochs": 1}, tune=tune)
    tuned = ml_ci(root, "tune")
    assert tuned.returncode == 0, tuned.stderr
    report = read(artifacts(root, "tune") / "report.json")
    assert len(report["trials"]) == 2 and report["metric"] == "loss"
    values = [t["value"] for t in report["trials"] if t["state"] == "COMPLETE"]
    assert report["best"]["value"] == min(values)
    best = read(artifacts(root, "tune") / "best_params.json")
    assert best["adapter.rank"] in (2, 8)
    trained = ml_ci(root, "train", "--params", str(artifacts(root, "tune") / "best_params.json"))
    assert trained.returncode == 0, trained.stderr
    assert "train: cache hit: restored" in trained.stdout
    assert read(artifacts(root, "train") / "model/adapter_config.json")["r"] == best["adapter.rank"]


def test_two_gloo_processes_train_the_adapter_with_the_same_global_batch(tmp_path: Path) -> None:
    """DDP under torchrun as the other tasks have it: each process pads its share of the global batch (labels -100),
    the adapter's gradients are averaged, and the parent alone reports and saves."""
    root = make_repo(tmp_path, train={**TRAIN, "epochs": 1, "distributed": {"nproc_per_node": 2, "nodes": 1}})
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(" rows: 2 process(es)") == 1, done.stderr
    metrics = read(artifacts(root, "train") / "metrics.json")
    assert metrics["world_size"] == 2 and metrics["steps"] == 48 // 8
    assert (artifacts(root, "train") / "model/adapter_model.safetensors").is_file()
