"""`ml-ci train` then `ml-ci export` of a text-generation model, through the real CLI in subprocesses as CI runs them
(test_train's `ml_ci`), on a repository made from examples/assistant (its data and prompt set) with a tiny random
Llama as model.base (tests/lm.py; one short epoch with a LoRA adapter): the ONNX Runtime GenAI folder, parity of the
merged PyTorch model with the served one, golden examples the server gives back and that agree with evaluate's own
completions, the same bytes from a fresh export, and an architecture the builder cannot convert refused (exit 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.digest import file_sha256
from ml_ci.records import golden as golden_record
from ml_ci.tasks.text_generation import serving
from tests.integration.test_train import ml_ci
from tests.lm import tiny_lm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/assistant"
EXPORTED = ("model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "chat_template.jinja", "model.json")


def make_repo(root: Path, kind: str = "llama") -> Path:
    shutil.copytree(EXAMPLE / "data", root / "data")
    shutil.copytree(EXAMPLE / "eval", root / "eval")
    tiny_lm(root / "models", kind)
    config = yaml.safe_load((EXAMPLE / "ml.yaml").read_text(encoding="utf-8"))
    config["model"] = {"base": f"models/{kind}", "max_length": 48}
    # The example's training, one epoch of a small adapter in fp32.
    config["train"].update(epochs=1, seed=7, precision="fp32", adapter={"type": "lora", "rank": 4})
    config["tune"] = {"enabled": False, "metric": "loss"}
    config["evaluate"].update(gates=[], slices=[])
    for key in ("image", "ci", "deploy"):  # no image, so no deploy (the example has both)
        config.pop(key, None)
    (root / "ml.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("assistant"))
    done = ml_ci(root, "train")
    assert done.returncode == 0, done.stderr
    done = ml_ci(root, "export")
    assert done.returncode == 0, done.stderr
    assert "parity on 32 prompts: 32 greedy continuations identical" in done.stdout
    return root


def out(root: Path) -> Path:
    return root / ".ml-ci/artifacts/export"


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_export_writes_the_runtime_s_folder_and_passes_parity(exported: Path) -> None:
    folder = out(exported)
    assert all((folder / name).is_file() for name in EXPORTED)
    record = read(folder / "model.json")
    example = yaml.safe_load((EXAMPLE / "ml.yaml").read_text(encoding="utf-8"))["evaluate"]["generation"]
    assert record["task"] == "text-generation" and record["generation"]["max_new_tokens"] == example["max_new_tokens"]
    assert record["inputs"][:2] == ["input_ids", "attention_mask"] and record["base"] == "models/llama"
    parity = read(folder / "parity.json")
    assert parity["passed"] is True and parity["identical"] == parity["prompts"] == 32
    assert parity["max_abs_logit_diff"] < 1e-4 and parity["prompt_mismatches"] == 0
    golden = read(folder / "golden.json")
    first_item = json.loads((exported / "eval/prompts.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert len(golden["examples"]) == 32 and golden["examples"][0]["text"] == first_item["prompt"]


def test_the_server_gives_the_golden_completions_and_evaluate_s(exported: Path) -> None:
    done = ml_ci(exported, "evaluate")
    assert done.returncode == 0, done.stderr
    golden = golden_record.read(out(exported) / "golden.json")
    served = serving.load(out(exported))
    examples = serving.golden_examples(golden, "golden.json")
    answers = serving.answers(json.loads(serving.answer(served, served.predict(serving.golden_inputs(examples)), "sha")))
    assert serving.mismatches(examples, answers, golden.allowed, caller="build") == []
    # evaluate's completions (transformers, batched and left-padded) are the server's (ONNX Runtime GenAI, one by one).
    problems, compared = serving.eval_mismatches(golden, answers, read(exported / ".ml-ci/artifacts/evaluate/eval.json"))
    assert (problems, compared) == ([], 32)


def test_a_fresh_export_writes_the_same_bytes(exported: Path) -> None:
    before = {name: file_sha256(out(exported) / name) for name in EXPORTED if name != "model.json"}
    sha = read(out(exported) / "model.json")["sha256"]
    done = ml_ci(exported, "export", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert {name: file_sha256(out(exported) / name) for name in before} == before
    assert read(out(exported) / "model.json")["sha256"] == sha


def test_an_architecture_the_builder_cannot_convert_is_refused(tmp_path: Path) -> None:
    """A GPT-2 adapter (made here: training GPT-2 works, the point is export) is refused naming what is supported."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = make_repo(tmp_path, "gpt2")
    base = root / "models/gpt2"
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM"),
    )
    model.save_pretrained(str(root / ".ml-ci/artifacts/train/model"))
    AutoTokenizer.from_pretrained(base).save_pretrained(root / ".ml-ci/artifacts/train/model")
    done = ml_ci(root, "export")
    assert done.returncode == 1, done.stderr
    assert "model.base 'models/gpt2' is a gpt2 model (GPT2LMHeadModel)" in done.stderr
    assert "it exports gemma, gemma2, granite, llama, mistral" in done.stderr and "Traceback" not in done.stderr
    assert not out(root).exists()
