"""text-generation's training half on the tiny random causal LMs of tests/lm.py (Llama, Qwen2, GPT-2): LoRA and full
fine-tuning through ml-ci's one Trainer loop (`fit`, in this process), the adapter folder and the one loader of it,
the tuned adapter sizes, QLoRA's refusal without a GPU, packing (labels per record, no attention across records),
the batches, and the task's parts of the cache key, lineage and card."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.config.load import load_config
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, DataCheckError
from ml_ci.tasks.text_generation import render as R
from ml_ci.tasks.text_generation import training as tr
from ml_ci.tasks.text_generation.config import of
from ml_ci.train import base_model
from tests.lm import tiny_lm

IGNORED = R.IGNORED


def lm_config(tmp_path: Path, kind: str = "llama", **sections: Any) -> Config:
    """A text-generation ml.yaml over a tiny `kind` model inside the repository; sections merged over it."""
    root = tmp_path / f"repo-{kind}-{len(list(tmp_path.glob('repo-*')))}"
    root.mkdir(parents=True)
    tiny_lm(root, kind)
    data: dict[str, Any] = {
        "version": 1,
        "name": "tiny-lm",
        "task": "text-generation",
        "data": {"train": "data/train.jsonl", "validation": "data/validation.jsonl"},
        "model": {"base": kind, "max_length": 32},
        "train": {"epochs": 2, "batch_size": 8, "learning_rate": 0.02, "warmup_ratio": 0.0, "adapter": {"rank": 4, "alpha": 8}},
        "evaluate": {"metrics": ["loss", "perplexity"]},
    }
    for name, section in sections.items():
        data[name] = {**data.get(name, {}), **section}
    (root / "ml.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(root / "ml.yaml").config


def full(config: Config) -> Config:
    """The config training every weight (train.adapter.type: none)."""
    spec = of(config)
    return replace(config, spec=replace(spec, adapter=replace(spec.adapter, type="none")))


def sums(n: int, seed: int) -> dict[str, list[str]]:
    """Prompt/completion columns as the data half gives them: small sums, the answer the completion."""
    rng = random.Random(seed)
    pairs = [(rng.randrange(30), rng.randrange(30)) for _ in range(n)]
    return {"prompt": [f"Q: what is {a} plus {b}? A:" for a, b in pairs], "completion": [f" {a + b}" for a, b in pairs]}


def splits(n: int = 48) -> Any:  # fit reads splits[role]: the two Datasets
    from datasets import Dataset

    return {"train": Dataset.from_dict(sums(n, 0)), "validation": Dataset.from_dict(sums(16, 1))}


def logits(model: Any, tokenizer: Any, text: str = "Q: what is 3 plus 4? A:") -> Any:
    import torch

    with torch.no_grad():
        return model(**tokenizer(text, return_tensors="pt")).logits


# --- training through fit -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "train"),
    [
        ("llama", {"gradient_checkpointing": True}),
        ("qwen2", {"packing": True}),
        ("gpt2", {}),
    ],
)
def test_lora_training_lowers_the_loss_and_saves_the_adapter(tmp_path: Path, kind: str, train: dict[str, Any]) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ml_ci.train.fit import fit

    config = lm_config(tmp_path, kind, train=train)
    result = fit(config, splits(), output_dir=tmp_path / "out", log=lambda line: None)
    (first_step, first), (last_step, last) = result.eval_curve[0], result.eval_curve[-1]
    assert last_step > first_step and last["loss"] < first["loss"]  # the validation loss falls from epoch to epoch
    assert result.loss_curve[-1][1] < result.loss_curve[0][1]
    assert result.metrics["perplexity"] == pytest.approx(math.exp(result.metrics["loss"]))
    folder = result.model_dir
    # the folder is the adapter and the tokenizer: small, loaded on model.base
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("tokenizer") and p.suffix != ".jinja") == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"], adapter["task_type"]) == (4, 8, "CAUSAL_LM")

    tokenizer, unmerged = tr.load_trained(folder, config)
    _, merged = tr.load_trained(folder, config, merged=True)
    assert isinstance(unmerged, PeftModel) and not isinstance(merged, PeftModel)  # merged: a plain transformers model
    assert torch.allclose(logits(unmerged, tokenizer), logits(merged, tokenizer), atol=1e-4)
    base: Any = AutoModelForCausalLM.from_pretrained(config.root / kind, dtype=torch.float32)
    base.eval()
    assert not torch.allclose(
        logits(base, AutoTokenizer.from_pretrained(config.root / kind)), logits(merged, tokenizer), atol=1e-3
    )


def test_full_fine_tuning_saves_and_loads_the_whole_model(tmp_path: Path) -> None:
    from ml_ci.train.fit import fit

    config = full(lm_config(tmp_path, "gpt2", train={"epochs": 1}))
    result = fit(config, splits(16), output_dir=tmp_path / "out", log=lambda line: None)
    assert (result.model_dir / "config.json").is_file() and not tr.is_adapter(result.model_dir)
    tokenizer, model = tr.load_trained(result.model_dir, config, merged=True)
    assert type(model).__name__ == "GPT2LMHeadModel" and not model.training
    assert tokenizer.pad_token == tokenizer.eos_token


def test_the_tuned_adapter_sizes_override_ml_yaml(tmp_path: Path) -> None:
    from ml_ci.train.fit import fit

    config = lm_config(tmp_path, "llama", train={"epochs": 1})
    result = fit(
        config,
        splits(8),
        overrides={"adapter.rank": 2, "adapter.alpha": 6, "adapter.dropout": 0.0},
        output_dir=tmp_path / "out",
        log=lambda line: None,
    )
    adapter = json.loads((result.model_dir / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"], adapter["lora_dropout"]) == (2, 6, 0.0)
    assert result.hparams.task_params == {"adapter.rank": 2, "adapter.alpha": 6, "adapter.dropout": 0.0}


# --- pieces -----------------------------------------------------------------------------------


def test_adapt_sizes_lora_from_the_runs_hyperparameters(tmp_path: Path) -> None:
    config = lm_config(tmp_path, "llama")
    _, model = tr.load_pretrained(base_model.resolve(config), config)
    hp = replace(config.train, task_params={"adapter.rank": 16, "adapter.alpha": 4.0, "adapter.dropout": 0.2})
    adapted = tr.adapt(model, config, hp)
    lora = adapted.peft_config["default"]
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (16, 4.0, 0.2)
    trainable = {n.split(".")[-4] for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # all-linear
    assert tr.lora_settings(of(config), config.train) == {"r": 4, "lora_alpha": 8.0, "lora_dropout": 0.05}


def test_unknown_target_modules_are_a_config_error(tmp_path: Path) -> None:
    config = lm_config(tmp_path, "llama", train={"adapter": {"target_modules": ["c_attn"]}})
    _, model = tr.load_pretrained(base_model.resolve(config), config)
    with pytest.raises(ConfigError) as e:
        tr.adapt(model, config, config.train)
    assert e.value.problems[0].path == "train.adapter.target_modules" and "c_attn" in e.value.problems[0].message


def test_qlora_is_refused_without_a_gpu_before_the_model_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    config = lm_config(tmp_path, "llama", train={"adapter": {"quantize_base": "4bit"}})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(base_model, "load_with_head", lambda *a, **k: pytest.fail("loaded the model before refusing"))
    with pytest.raises(ConfigError) as e:
        tr.load_pretrained(base_model.resolve(config), config)
    assert e.value.exit_code == 2
    [problem] = e.value.problems
    assert problem.path == "train.adapter.quantize_base" and "need a CUDA GPU" in problem.message
    tr.check_quantization(config, cuda=True)  # a GPU: allowed
    tr.check_quantization(lm_config(tmp_path, "llama"), cuda=False)  # no quantization: nothing to refuse


def test_encode_labels_completions_cuts_and_drops_records_without_a_target(tmp_path: Path) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer

    config = lm_config(tmp_path, "llama", model={"max_length": 8})
    tok = AutoTokenizer.from_pretrained(config.root / "llama")
    records = {"prompt": ["1 plus 2 =", "The quick brown fox jumps over the lazy dog. Q:"], "completion": [" 3", " 9"]}
    encoded = tr.encode(Dataset.from_dict(records), tok, config, "validation")
    assert len(encoded) == 1  # the second record's completion lies past 8 tokens: nothing to learn from it
    row = encoded[0]
    assert set(row) == {"input_ids", "labels"} and len(row["input_ids"]) <= 8
    assert [tok.decode([t]) for t in row["labels"] if t != IGNORED] == [" 3", "<|endoftext|>"]
    chats = Dataset.from_dict({"messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]]})
    rewrites = "{% for m in messages %}{{ m.content }}{% endfor %}{{ '?' if add_generation_prompt else '' }}"
    rules = lm_config(tmp_path, "llama", data={"chat_template": rewrites})
    with pytest.raises(DataCheckError, match=r"^train split, record 1: the chat template does not render"):
        tr.encode(chats, tok, rules, "train")


def test_encode_reads_a_split_mixing_pairs_and_chats_as_the_data_half_gives_it(tmp_path: Path) -> None:
    from datasets import Dataset, Features, Value
    from transformers import AutoTokenizer

    config = lm_config(tmp_path, "llama", model={"max_length": 64})
    tok = AutoTokenizer.from_pretrained(config.root / "llama")
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    features = Features(
        {
            "prompt": Value("string"),
            "completion": Value("string"),
            "messages": [{"role": Value("string"), "content": Value("string")}],
        }
    )
    split = Dataset.from_dict(
        {"prompt": ["1 plus 2 =", None], "completion": [" 3", None], "messages": [None, chat]}, features=features
    )
    rows = tr.encode(split, tok, config, "validation")
    assert [tok.decode([t for t in r["labels"] if t != IGNORED]) for r in rows] == [" 3<|endoftext|>", "yo<|im_end|>\n"]


def test_packing_keeps_each_records_labels_and_attention_inside_it(tmp_path: Path) -> None:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = lm_config(tmp_path, "llama", train={"packing": True}, model={"max_length": 40})
    tok = AutoTokenizer.from_pretrained(config.root / "llama")
    data = Dataset.from_dict(sums(12, 3))
    single = tr.encode(data, tok, config, "validation")  # never packed
    packed = tr.encode(data, tok, config, "train")
    assert len(single) == 12 and len(packed) < 12
    by_ids = {tuple(r["input_ids"]): r["labels"] for r in single}
    seen = 0
    for row in packed:
        assert len(row["input_ids"]) <= 40 and len(row["position_ids"]) == len(row["input_ids"])
        start = 0
        for n in tr.lengths_of(row["position_ids"]):
            ids = tuple(row["input_ids"][start : start + n])
            assert row["labels"][start : start + n] == by_ids[ids]  # each record keeps its own labels
            assert row["position_ids"][start : start + n] == list(range(n))
            start, seen = start + n, seen + 1
    assert seen == 12  # every record, whole, once

    batch = tr.collator(tok)([packed[0], packed[1]])
    assert "attention_mask" not in batch and batch["use_cache"] is False and batch["input_ids"].shape[0] == 1
    starts = (batch["position_ids"][0] == 0).nonzero().flatten()
    assert len(starts) == len(tr.lengths_of(packed[0]["position_ids"])) + len(tr.lengths_of(packed[1]["position_ids"]))
    assert (batch["labels"][0][starts] == IGNORED).all()  # no record learns its first token from the one before it

    for kind in ("llama", "gpt2"):
        model: Any = AutoModelForCausalLM.from_pretrained(tiny_lm(tmp_path, kind), dtype=torch.float32)
        model.eval()
        row = packed[0]
        with torch.no_grad():
            together = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
            start = 0
            for n in tr.lengths_of(row["position_ids"]):
                alone = model(input_ids=torch.tensor([row["input_ids"][start : start + n]])).logits[0]
                assert torch.allclose(together[start : start + n], alone, atol=1e-5), kind  # no attention across records
                start += n


def test_the_padded_batch_pads_ids_with_the_pad_token_and_labels_with_minus_100(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_lm(tmp_path, "gpt2"))
    rows = [{"input_ids": [5, 6, 7], "labels": [IGNORED, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    batch = tr.collator(tok)(rows)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, tok.pad_token_id, tok.pad_token_id]]
    assert batch["labels"].tolist() == [[IGNORED, 6, 7], [8, IGNORED, IGNORED]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]] and batch["use_cache"] is False


def test_perplexity_is_derived_from_the_loss() -> None:
    assert tr.derived_metrics({"loss": 2.0}) == {"loss": 2.0, "perplexity": pytest.approx(math.exp(2.0))}
    assert tr.derived_metrics({"other": 1.0}) == {"other": 1.0}
    assert tr.derived_metrics({"loss": float("nan")}) == {"loss": pytest.approx(float("nan"), nan_ok=True)}
    assert "perplexity" not in tr.derived_metrics({"loss": 800.0})  # exp would overflow: no value, not inf


def test_load_trained_reads_the_base_from_ml_yaml_not_the_adapters_path(tmp_path: Path) -> None:
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model

    config = lm_config(tmp_path, "qwen2")
    tokenizer, model = tr.load_pretrained(base_model.resolve(config), config)
    adapted = get_peft_model(model, LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False))
    folder = tmp_path / "adapter"
    adapted.save_pretrained(str(folder))
    tokenizer.save_pretrained(folder)
    meta = json.loads((folder / "adapter_config.json").read_text())
    meta["base_model_name_or_path"] = str(tmp_path / "where-it-was-trained")  # gone on this machine
    (folder / "adapter_config.json").write_text(json.dumps(meta))
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved)
    tok, loaded = tr.load_trained(moved, config)
    assert torch.allclose(logits(loaded, tok), logits(adapted.eval(), tok), atol=1e-5)


def test_cache_key_lineage_and_card(tmp_path: Path) -> None:
    plain = lm_config(tmp_path, "llama")
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    chat = lm_config(tmp_path, "llama", data={"chat_template": template}, train={"packing": True})
    keys = tr.key_inputs(plain)
    assert keys["columns"] == ["prompt", "completion", "messages"] and keys["chat_template"] is None
    assert {"peft", "trl"} <= set(keys["adapter_packages"])
    assert tr.key_inputs(chat)["chat_template"] == template  # a new template retrains
    line = tr.lineage(chat, None)
    assert line["adapter"] == {"type": "lora", "target_modules": "all-linear", "quantize_base": "none"}
    assert line["packing"] is True and line["chat_template"]["source"] == "data.chat_template"
    assert len(line["chat_template"]["sha256"]) == 64
    assert tr.lineage(plain, None)["chat_template"] == {"source": "the base model's tokenizer"}
    card = tr.card(plain)
    assert card.pipeline_tag == "text-generation"
    assert 'PeftModel.from_pretrained(base, "path/to/this/folder")' in card.usage
    assert 'AutoModelForCausalLM.from_pretrained("llama")' in card.usage
    whole = full(lm_config(tmp_path, "gpt2"))
    assert "peft" not in tr.card(whole).usage and tr.lineage(whole, None)["adapter"] == {"type": "none"}
    assert tr.compute_metrics(plain) is None and tr.loss(plain, plain.train, None) is None
