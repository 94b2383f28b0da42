"""text-generation's export half on a tiny Llama (tests/lm.py) with a LoRA adapter: merged and converted by ONNX
Runtime GenAI's model builder, compared with the merged PyTorch model (parity), golden examples; a corrupted export
fails parity, through the export stage too (exit 4); an architecture the builder cannot convert is refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_ci.config import Config, load_config
from ml_ci.errors import GateError, OperationalError
from ml_ci.records import model as model_record
from ml_ci.records.model import ModelRecord
from ml_ci.tasks.text_generation import export as X
from ml_ci.tasks.text_generation import serving
from ml_ci.tasks.text_generation.config import of as spec_of
from tests.lm import tiny_lm

ROWS = [{"prompt": f"Q: what is {a} plus {b}? A:", "completion": f" {a + b}"} for a in range(4) for b in range(3)]


def make_repo(root: Path, kind: str = "llama", generation: str = "{max_new_tokens: 10}", prompts: str = "") -> Config:
    tiny_lm(root / "base", kind)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for name in ("train", "validation", "test"):
        (root / "data" / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (root / "ml.yaml").write_text(
        f"version: 1\nname: tiny-assistant\ntask: text-generation\n"
        "data: {train: data/train.jsonl, validation: data/validation.jsonl, test: data/test.jsonl}\n"
        f"model: {{base: base/{kind}, max_length: 64}}\n"
        f"evaluate: {{metrics: [loss, perplexity], generation: {generation}{', prompts: ' + prompts if prompts else ''}}}\n"
    )
    return load_config(root / "ml.yaml").config


def save_adapter(config: Config, out: Path) -> Path:
    """A LoRA adapter with random (not zero) weights, saved as training saves one: adapter and tokenizer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = config.root / config.model.base
    torch.manual_seed(1)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False),
    )
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def write_record(config: Config, folder: Path, traced: X.TorchLM) -> None:
    from ml_ci.export.stage import manifest

    record = manifest(
        config,
        sha256="0" * 64,
        source_sha256="0" * 64,
        inputs=traced.inputs,
        pad_id=traced.pad_id,
        lineage={},
        metrics={},
        versions={},
        epoch=None,
    )
    model_record.write(folder / model_record.FILE, record)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path, X.TorchLM, Path]:
    """(config, the adapter folder, the merged model, its export)."""
    root = tmp_path_factory.mktemp("repo")
    config = make_repo(root)
    adapter = save_adapter(config, root / "artifacts" / "model")
    traced = X.load(adapter, config)
    out = root / "export"
    out.mkdir()
    traced.export(out / "model.onnx", config.package.opset)
    write_record(config, out, traced)
    return config, adapter, traced, out


def records() -> list[dict[str, Any]]:
    return [dict(r) for r in ROWS]


def test_the_export_folder_holds_what_the_runtime_reads(exported: tuple[Config, Path, X.TorchLM, Path]) -> None:
    _, _, traced, out = exported
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "chat_template.jinja"} <= names
    assert traced.inputs[:2] == ("input_ids", "attention_mask") and "past_key_values.0.key" in traced.inputs
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".ml-ci-merged-")]  # the merged copy is gone


def test_a_merged_lora_model_passes_parity(exported: tuple[Config, Path, X.TorchLM, Path]) -> None:
    config, _, traced, out = exported
    parity = X.parity(traced, serving.load(out), records(), None, config.package)
    assert parity.passed, parity.failures
    assert (parity.prompts, parity.identical, parity.prompt_mismatches, parity.max_new_tokens) == (12, 12, 0, 10)
    assert parity.tokens > 0 and parity.max_abs_logit_diff < 1e-5
    assert X.read_parity({**parity.record(), "quantize": "none", "sha256": "x"}) == parity
    assert parity.summary().startswith("parity on 12 prompts: 12 greedy continuations identical")


def test_the_adapter_is_merged_not_left_out(exported: tuple[Config, Path, X.TorchLM, Path]) -> None:
    """The export holds the adapter's weights: its logits are the merged model's, far from the base's."""
    from transformers import AutoModelForCausalLM

    config, _, traced, out = exported
    ids = traced.prompt_ids(ROWS[0])
    loaded: Any = AutoModelForCausalLM.from_pretrained(config.root / config.model.base)
    base = X.TorchLM(traced.tokenizer, loaded.eval(), config)
    served = serving.load(out).runtime.first_logits(ids)
    assert float(np.abs(served - traced.first_logits(ids)).max()) < 1e-5
    assert float(np.abs(served - base.first_logits(ids)).max()) > 1e-2


def corrupt(src: Path, dst: Path) -> Path:
    """A copy of the export whose weights are all off by a little (as a broken conversion would leave them)."""
    shutil.copytree(src, dst)
    data = np.fromfile(dst / "model.onnx.data", dtype=np.float32)
    data += np.random.default_rng(0).normal(0, 0.05, data.shape).astype(np.float32)
    data.tofile(dst / "model.onnx.data")
    return dst


def test_a_corrupted_export_fails_parity_naming_the_settings(
    exported: tuple[Config, Path, X.TorchLM, Path], tmp_path: Path
) -> None:
    config, _, traced, out = exported
    parity = X.parity(traced, serving.load(corrupt(out, tmp_path / "export")), records(), None, config.package)
    assert not parity.passed and parity.identical < parity.prompts and parity.first_difference is not None
    assert len(parity.failures) == 2
    assert parity.failures[0].startswith(
        f"the exported model continues {parity.identical} of 12 prompts greedily as PyTorch does"
    )
    assert "package.min_agreement is 99.50%; first: 'Q: what is " in parity.failures[0]
    assert parity.failures[1].endswith("on the prompts; fp32 allows 1e-03")


def test_the_stage_exits_4_and_writes_nothing_when_parity_fails(
    exported: tuple[Config, Path, X.TorchLM, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_ci.export import stage
    from ml_ci.pipeline.layout import Layout

    config, adapter, _, _ = exported
    built = X.build

    def broken_build(hf: Path, out: Path, cache: Path, filename: str = "model.onnx") -> None:
        built(hf, out, cache, filename)
        data = np.fromfile(out / "model.onnx.data", dtype=np.float32)
        (data + np.float32(0.05)).tofile(out / "model.onnx.data")

    monkeypatch.setattr(X, "build", broken_build)
    with pytest.raises(GateError, match="does not match PyTorch") as caught:
        stage.export(config, adapter, None)
    assert caught.value.exit_code == 4 and "package.min_agreement" in str(caught.value)
    assert not Layout(config.root).export_dir.exists()


def test_golden_examples_are_the_served_greedy_completions(exported: tuple[Config, Path, X.TorchLM, Path]) -> None:
    _, _, traced, out = exported
    served = serving.load(out)
    truth = [r["completion"] for r in ROWS]
    record = X.golden(traced, served, records(), truth, 3, 1e-3)
    assert record.payload == {"max_new_tokens": 10, "stop": []} and len(record.examples) == 3
    first = record.examples[0]
    assert (first["prompt"], first["reference"]) == (ROWS[0]["prompt"], " 0")
    assert first["expected"]["completion"] == served.predict([ROWS[0]["prompt"]])[0]
    examples = serving.golden_examples(record, "golden.json")
    answers = serving.answers(json.loads(serving.answer(served, served.predict(serving.golden_inputs(examples)), "sha")))
    assert serving.mismatches(examples, answers, record.allowed, caller="build") == []


def test_gpt2_is_refused_before_loading_naming_what_is_supported(tmp_path: Path) -> None:
    config = make_repo(tmp_path, "gpt2")
    with pytest.raises(OperationalError) as caught:
        X.load(config.root / "base" / "gpt2", config)
    message = str(caught.value)
    assert message.startswith(
        "model.base 'base/gpt2' is a gpt2 model (GPT2LMHeadModel), which ONNX Runtime GenAI's model builder"
    )
    assert "llama" in message and "qwen2" in message and "Train and evaluate work" in message


def test_a_layer_as_wide_as_the_vocabulary_is_refused_before_the_builder_mistakes_it(tmp_path: Path) -> None:
    """make_base's Llama at hidden 256 has MLP projections of 512 outputs, its vocabulary's size: refused, naming them.
    Why: the installed builder feeds such a model's LM head from the wrong layer (the export then fails parity with no
    cause given); when it stops doing so, this test says the check can go."""
    import onnx
    from transformers import AutoModelForCausalLM

    from tests.lm import _builder

    config = make_repo(tmp_path)
    wide = _builder()("llama", tmp_path / "wide", hidden=256, layers=1)
    with pytest.raises(OperationalError) as caught:
        X.check_layer_sizes(config, AutoModelForCausalLM.from_pretrained(wide))
    assert str(caught.value).startswith(
        "model.base 'base/llama': model.layers.0.mlp.gate_proj, model.layers.0.mlp.up_proj output 512 features, as many "
        "as the vocabulary"
    ), caught.value
    X.check_layer_sizes(config, AutoModelForCausalLM.from_pretrained(config.root / "base" / "llama"))  # 128 wide: passes

    X.build(wide, tmp_path / "out", tmp_path / "cache")
    graph = onnx.load(str(tmp_path / "out" / "model.onnx"), load_external_data=False).graph
    [head] = [n for n in graph.node if n.name == "/lm_head/MatMul"]
    assert "final_norm" not in head.input[0], "the builder feeds the LM head from the final norm now: drop check_layer_sizes"


def test_every_supported_architecture_is_one_the_installed_builder_converts() -> None:
    import importlib.util

    spec = importlib.util.find_spec(X.BUILDER)
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    assert [a for a in X.SUPPORTED if f'config.architectures[0] == "{a}"' not in source] == []


def test_a_failing_builder_is_an_operational_error_with_its_output(tmp_path: Path) -> None:
    hf = tiny_lm(tmp_path, "llama")
    (hf / "model.safetensors").unlink()
    with pytest.raises(OperationalError, match="model builder failed on the merged model") as caught:
        X.build(hf, tmp_path / "out", tmp_path / "cache")
    assert "its output ended:" in str(caught.value)


def test_payload_labels_and_examples(exported: tuple[Config, Path, X.TorchLM, Path]) -> None:
    import datasets

    config = exported[0]
    payload = X.manifest_payload(config)
    assert payload == {
        "base": "base/llama",
        "generation": {"max_new_tokens": 10, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": []},
    }
    record = ModelRecord(
        name="m", task="text-generation", max_length=64, onnx="model.onnx", sha256="s", inputs=(), pad_id=0, payload=payload
    )
    assert X.image_labels(record) == {"base": "base/llama", "max_new_tokens": "10"}
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    inputs, truth = X.examples(
        datasets.Dataset.from_list([{"prompt": None, "completion": None, **chat}, {**ROWS[0], "messages": None}])
    )
    assert truth == [None, " 0"] and inputs[1]["prompt"] == ROWS[0]["prompt"] and inputs[0]["messages"] == chat["messages"]


def test_a_build_is_reproducible_and_stamped_with_the_version_alone(tmp_path: Path) -> None:
    """No commit of whatever repository the virtual environment sits in (and no process: the unit-test guard is on)."""
    import onnx
    import onnxruntime_genai

    from ml_ci.digest import file_sha256

    hf = tiny_lm(tmp_path, "qwen2")
    for name in ("a", "b"):
        X.build(hf, tmp_path / name, tmp_path / "cache")
    graph = onnx.load(str(tmp_path / "a" / "model.onnx"), load_external_data=False)
    assert graph.producer_version == onnxruntime_genai.__version__
    for name in ("model.onnx", "model.onnx.data", "genai_config.json"):
        assert file_sha256(tmp_path / "a" / name) == file_sha256(tmp_path / "b" / name), name


def test_the_prompt_set_s_items_come_first_in_parity_and_golden(
    exported: tuple[Config, Path, X.TorchLM, Path], tmp_path: Path
) -> None:
    _, _, traced, out = exported
    chat = [{"role": "user", "content": "what is 2 plus 2?"}]
    items = [{"id": "sum", "prompt": "Q: what is 7 plus 1? A:", "reference": " 8"}, {"messages": chat, "max_new_tokens": 4}]
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "prompts.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    config = make_repo(tmp_path, prompts="eval/prompts.jsonl")
    model = X.TorchLM(traced.tokenizer, traced.model, config)
    served = serving.load(out)
    parity = X.parity(model, served, records()[:1], None, config.package)
    assert parity.passed and parity.prompts == 3
    golden = X.golden(model, served, records(), None, 3, 1e-3)
    rows = golden.examples
    assert [r.get("text") for r in rows] == ["Q: what is 7 plus 1? A:", "what is 2 plus 2?", None]
    assert [r.get("item_max_new_tokens") for r in rows] == [None, 4, None] and rows[0]["reference"] == " 8"
    assert rows[1]["prompt"] == "<|im_start|>user\nwhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n"
    assert rows[2]["prompt"] == ROWS[0]["prompt"]


def test_data_chat_template_is_the_exported_one(exported: tuple[Config, Path, X.TorchLM, Path], tmp_path: Path) -> None:
    _, _, traced, _ = exported
    template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    (tmp_path / "repo").mkdir()
    config = make_repo(tmp_path / "repo")
    config = replace(config, spec=replace(spec_of(config), chat_template=template))
    own = traced.tokenizer.chat_template
    X.TorchLM(traced.tokenizer, traced.model, config).export(tmp_path / "out" / "model.onnx", 17)
    assert (tmp_path / "out" / "chat_template.jinja").read_text() == template
    assert traced.tokenizer.chat_template == own  # the loaded tokenizer is left as it was
