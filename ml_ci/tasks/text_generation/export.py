"""text-generation's export half (`ml_ci.tasks.protocols.export.ExportHalf`): the merged model converted to ONNX
Runtime GenAI's format, the parity check against PyTorch, and the golden examples.

The trained model folder may be a LoRA adapter: it is merged into the base weights (merge_and_unload) first, so that
the runtime has one set of weights, does no adapter arithmetic per token, and gives PyTorch's logits. The merged
model is saved to a temporary Hugging Face folder and converted by ONNX Runtime GenAI's model builder
(`onnxruntime_genai.models.builder`, fp32 on CPU) into the export folder: model.onnx (the decoder with its
key/value cache), model.onnx.data (the weights), genai_config.json (how the runtime drives it), the tokenizer files
and the chat template. The builder picks the opset its operators need (package.opset does not apply). It knows a
list of architectures (`SUPPORTED`); any other (GPT-2 among them) is refused before anything is loaded, naming the
supported ones (train and evaluate take any causal LM).

The builder's documented interface is its command line; it is run in this process (its `__main__` with the
arguments the command line would get), so that a failure is an exception with its message rather than an exit
status, and no second Python is started; its output is kept and shown when it fails.

Parity runs, on up to PARITY_PROMPTS prompts (evaluate.prompts' items, then the validation split's records), the
merged PyTorch model and the exported one as the server runs it (`serving.LanguageModel`, ONNX Runtime GenAI) and asks for:
- the same greedy continuation, token for token (evaluate.generation.max_new_tokens tokens, or to the end-of-sequence
  token): the share of prompts whose continuations are identical, against package.min_agreement;
- the same prompt tokens (the served tokenizer against the trained one): any difference fails;
- the prompt's logits (every position) within MAX_LOGIT_DIFF (fp32 against fp32: a wrong graph is off by far more).
Golden examples are prompts (evaluate.prompts' items, then the test split's records) with the completion the served
model gives (greedy, with the stop strings, as `/v1/predict` answers): the image check and the smoke test ask for the
same text, and the image check compares the items' with evaluate's completions too (when evaluate was greedy).
"""

from __future__ import annotations

import contextlib
import io
import runpy
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ml_ci.records.golden import GoldenRecord
from ml_ci.tasks.text_generation import prompts, render
from ml_ci.tasks.text_generation.config import of as spec_of

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ml_ci.config.model import Config, Package
    from ml_ci.records.model import ModelRecord
    from ml_ci.tasks.text_generation.prompts import PromptItem
    from ml_ci.tasks.text_generation.serving import LanguageModel

BUILDER = "onnxruntime_genai.models.builder"
GENAI_CONFIG = "genai_config.json"
# The architectures (config.json's `architectures[0]`) the installed builder converts to a plain decoder, by their
# model_type: its text-only causal LMs (its list also holds vision and speech models, which text-generation is not).
SUPPORTED: Mapping[str, str] = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "PhiForCausalLM": "phi",
    "Phi3ForCausalLM": "phi3",
    "GemmaForCausalLM": "gemma",
    "Gemma2ForCausalLM": "gemma2",
    "GraniteForCausalLM": "granite",
    "OlmoForCausalLM": "olmo",
    "SmolLM3ForCausalLM": "smollm3",
}
# fp32 PyTorch against the fp32 graph: measured within 3e-7 on the tiny test models; a wrong weight is off by far more.
MAX_LOGIT_DIFF = 1e-3
PARITY_PROMPTS = 32  # greedy generation on CPU is slow: enough prompts to catch a wrong graph, few enough to wait for


def supported_names() -> str:
    return ", ".join(sorted(set(SUPPORTED.values())))


def check_supported(config: Config, model_config: Any) -> None:
    """OperationalError naming model.base, its model_type and the supported ones when the builder cannot convert it."""
    from ml_ci.errors import OperationalError

    architectures = list(getattr(model_config, "architectures", None) or [])
    if architectures and architectures[0] in SUPPORTED:
        return
    model_type = getattr(model_config, "model_type", None) or "unknown"
    raise OperationalError(
        f"model.base {config.model.base!r} is a {model_type} model ({architectures[0] if architectures else 'no architecture'}), "
        f"which ONNX Runtime GenAI's model builder cannot export; it exports {supported_names()}. "
        "Train and evaluate work with any causal language model; to export, choose a base of a supported type"
    )


def check_layer_sizes(config: Config, model: Any) -> None:
    """OperationalError naming the layers when a linear layer other than the LM head has as many outputs as the
    vocabulary: the builder takes the first such layer after the last decoder layer for the LM head (its
    `has_lm_head` compares out_features with vocab_size) and writes a graph whose logits skip the last layer's MLP,
    which the parity check then fails without a cause. Real models' vocabularies dwarf their layers; small random
    test models (a 512-token vocabulary, hidden 256 and intermediate 512) meet it."""
    import torch

    from ml_ci.errors import OperationalError

    vocab = int(model.config.vocab_size)
    head = model.get_output_embeddings()
    same = [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head and module.out_features == vocab
    ]
    if same:
        shown = ", ".join(same[:4]) + (f" and {len(same) - 4} more" if len(same) > 4 else "")
        raise OperationalError(
            f"model.base {config.model.base!r}: {shown} output {vocab} features, as many as the vocabulary, and ONNX "
            "Runtime GenAI's model builder takes such a layer for the LM head (its export would not match PyTorch). "
            "Give the model a hidden or intermediate size that differs from its vocabulary size"
        )


# --- the model and its conversion -------------------------------------------------------------


def _base_config(model_dir: Path, config: Config) -> Any:
    """The trained model's config.json, or (an adapter) its base's, without loading weights."""
    from transformers import AutoConfig

    from ml_ci.tasks.text_generation.training import is_adapter
    from ml_ci.train import base_model

    if not is_adapter(model_dir):
        return AutoConfig.from_pretrained(model_dir)

    base = base_model.resolve(config)
    try:
        return AutoConfig.from_pretrained(base.location, revision=base.revision)
    except OSError as e:
        raise base_model.load_error(base, e) from None


@contextlib.contextmanager
def _version_stamp_only() -> Iterator[None]:
    """The builder stamps the graph's producer_version with `git rev-parse HEAD` run in an ancestor of its install
    folder: in a virtual environment inside a repository, that repository's commit (measured: ml-ci's own). model.onnx
    would then change with every commit of the model repository, and so would the image built from it, and a process
    would start. While it runs, the stamp is the package's version alone."""
    import importlib

    importlib.import_module("onnxruntime_genai.models")  # puts the builder's folder on sys.path, as its __main__ needs
    try:
        base: Any = importlib.import_module("builders.base")
    except ImportError:
        base = None
    model = getattr(base, "Model", None)
    original = vars(model).get("get_genai_commit") if model is not None else None
    if original is None:  # another builder version: nothing to change
        yield
        return
    model.get_genai_commit = classmethod(lambda cls: None)  # type: ignore[union-attr]
    try:
        yield
    finally:
        model.get_genai_commit = original  # type: ignore[union-attr]


def build(hf_folder: Path, out: Path, cache: Path, filename: str = "model.onnx") -> None:
    """ONNX Runtime GenAI's model builder on a Hugging Face folder, fp32 for the CPU, into `out`; OperationalError
    with the builder's last lines when it fails. Not thread-safe (it sets sys.argv while it runs)."""
    from ml_ci.errors import OperationalError

    argv = ["builder", "-i", str(hf_folder), "-o", str(out), "-p", "fp32", "-e", "cpu", "-c", str(cache)]
    if filename != "model.onnx":
        argv += ["--extra_options", f"filename={filename}"]
    log = io.StringIO()
    saved = sys.argv
    failure: Optional[str] = None
    try:
        sys.argv = argv
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), _version_stamp_only():
            runpy.run_module(BUILDER, run_name="__main__", alter_sys=False)
    except SystemExit as e:  # argparse's refusal of its arguments
        if e.code not in (0, None):
            failure = f"it exited with status {e.code}"
    except Exception as e:  # the builder raises what it meets (NotImplementedError, ValueError, OSError, ...)
        failure = f"{type(e).__name__}: {e}"
    finally:
        sys.argv = saved
    missing = [name for name in (filename, GENAI_CONFIG) if not (out / name).is_file()]
    if failure is None and missing:
        failure = f"it wrote no {' and no '.join(missing)}"
    if failure is not None:
        tail = "\n    ".join(log.getvalue().strip().splitlines()[-12:])
        raise OperationalError(
            f"ONNX Runtime GenAI's model builder failed on the merged model: {failure}\n  its output ended:\n    {tail}"
        )


def graph_inputs(path: Path) -> tuple[str, ...]:
    """The ONNX graph's input names, in order (its weights are not read)."""
    import onnx

    return tuple(i.name for i in onnx.load(str(path), load_external_data=False).graph.input)


class TorchLM:
    """The trained causal LM, merged, with its tokenizer: what is exported and PyTorch's side of the comparisons."""

    def __init__(self, tokenizer: Any, model: Any, config: Config) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("the model's tokenizer has no fast (tokenizer.json) version, which serving needs")
        self.tokenizer = tokenizer
        self.model = model
        self.config = config
        self.spec = spec_of(config)
        self._inputs: tuple[str, ...] = ("input_ids", "attention_mask")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The exported graph's inputs (the key/value cache's included), once exported."""
        return self._inputs

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(self.tokenizer.eos_token_id if pad is None else pad)

    def prompt_items(self) -> list[PromptItem]:
        """evaluate.prompts' items (none without one): what the golden examples and parity take first."""
        path = self.spec.prompts_path(self.config.root)
        return [] if path is None else prompts.read(path, self.spec.prompts or str(path))

    def prompt_text(self, record: Mapping[str, Any]) -> str:
        return render.prompt_text(record, self.tokenizer, self.spec)

    def prompt_ids(self, record: Mapping[str, Any]) -> list[int]:
        return render.prompt_ids(record, self.tokenizer, self.spec)

    def greedy(self, ids: Sequence[int], max_new_tokens: int) -> list[int]:
        """transformers' greedy continuation of the prompt's tokens, ended as evaluate ends it (`generate.eos_ids`),
        without the end-of-sequence token."""
        import torch
        from transformers import GenerationConfig

        from ml_ci.tasks.text_generation.generate import eos_ids, finish

        eos = eos_ids(self.model, self.tokenizer)
        # Only what greedy decoding uses: a model's own sampling defaults stay out (as evaluate's).
        config = GenerationConfig(  # type: ignore[no-untyped-call]
            max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=self.pad_id, eos_token_id=eos
        )
        with torch.inference_mode():
            out = self.model.generate(
                torch.tensor([list(ids)]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), generation_config=config
            )
        return finish([int(t) for t in out[0, len(ids) :]], eos)[0]

    def first_logits(self, ids: Sequence[int]) -> npt.NDArray[np.float32]:
        """The logits of the prompt's forward pass at each of its positions (tokens x vocabulary)."""
        import torch

        with torch.inference_mode():
            logits = self.model(torch.tensor([list(ids)])).logits[0]
        out: npt.NDArray[np.float32] = logits.float().numpy()
        return out

    def export(self, path: Path, opset: int) -> None:
        """The merged model saved to a temporary folder beside the export's and converted there into path.parent
        (model.onnx at `path`, its weights in `path`.data, genai_config.json, the tokenizer). `opset` is the
        builder's to choose."""
        scratch = path.parent.parent
        with tempfile.TemporaryDirectory(prefix=".ml-ci-merged-", dir=scratch) as tmp:
            merged = Path(tmp) / "model"
            self.model.save_pretrained(merged, safe_serialization=True)
            own = self.tokenizer.chat_template
            try:
                # The template training rendered chats with is the exported one (the builder copies the tokenizer's).
                self.tokenizer.chat_template = self.spec.chat_template or own
                self.tokenizer.save_pretrained(merged)
            finally:
                self.tokenizer.chat_template = own
            build(merged, path.parent, Path(tmp) / "cache", path.name)
        self._inputs = graph_inputs(path)


# What ONNX Runtime GenAI reads besides model.onnx and tokenizer.json (the chat template only when the model has one).
SERVED_FILES: tuple[str, ...] = ("model.onnx.data", "genai_config.json", "tokenizer_config.json", "chat_template.jinja")


def load(model_dir: Path, config: Config) -> TorchLM:
    """The trained model (a full model, or an adapter merged into model.base); OperationalError before any weight is
    loaded when the builder cannot export its architecture."""
    from ml_ci.tasks.text_generation import training

    check_supported(config, _base_config(model_dir, config))
    tokenizer, model = training.load_trained(model_dir, config, merged=True)
    check_layer_sizes(config, model)
    return TorchLM(tokenizer, model, config)


def manifest_payload(config: Config) -> dict[str, Any]:
    """The base model and the generation settings `/v1/predict` answers with (evaluate.generation's; the server
    decodes greedily). The end-of-sequence tokens and the chat template are the export folder's (genai_config.json,
    chat_template.jinja), as the runtime reads them."""
    spec = spec_of(config)
    return {"base": spec.base, "generation": {**asdict(spec.generation), "stop": list(spec.generation.stop)}}


def image_labels(model: ModelRecord) -> dict[str, str]:
    """The base model and the most tokens an answer has, as `io.ml-ci.model.base` and `.max_new_tokens`."""
    return {"base": str(model.payload["base"]), "max_new_tokens": str(model.payload["generation"]["max_new_tokens"])}


def examples(dataset: Any) -> tuple[list[dict[str, Any]], Optional[list[Optional[str]]]]:
    """A split's records (prompt/completion or messages, the data half's names) and each one's reference completion
    (None for a chat)."""
    keys = [k for k in (render.PROMPT, render.COMPLETION, render.MESSAGES) if k in dataset.column_names]
    records = [{k: row[k] for k in keys} for row in dataset]
    truth = [None if render.is_chat(r) else str(r[render.COMPLETION]) for r in records]
    return records, truth


# --- parity -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Parity:
    prompts: int
    identical: int  # prompts whose greedy continuations are the same tokens
    tokens: int  # tokens PyTorch generated over all prompts
    max_new_tokens: int
    prompt_mismatches: int  # prompts the served tokenizer encodes otherwise than the trained one
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    first_difference: Optional[str]  # the first prompt whose continuations differ, and how
    min_agreement: float
    max_logit_diff: float = MAX_LOGIT_DIFF

    @property
    def agreement(self) -> float:
        return self.identical / self.prompts if self.prompts else 1.0

    @property
    def failures(self) -> list[str]:
        problems = []
        if self.agreement < self.min_agreement:
            problems.append(
                f"the exported model continues {self.identical} of {self.prompts} prompts greedily as PyTorch "
                f"does ({self.agreement:.2%}); package.min_agreement is {self.min_agreement:.2%}"
                + (f"; first: {self.first_difference}" if self.first_difference else "")
            )
        if self.prompt_mismatches:
            problems.append(
                f"the exported tokenizer encodes {self.prompt_mismatches} of {self.prompts} prompts otherwise "
                "than the trained one"
            )
        if not self.max_abs_logit_diff <= self.max_logit_diff:
            problems.append(
                f"the exported model's logits differ from PyTorch's by up to {self.max_abs_logit_diff:.2e} on the "
                f"prompts; fp32 allows {self.max_logit_diff:.0e}"
            )
        return problems

    @property
    def passed(self) -> bool:
        return not self.failures

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "agreement": self.agreement, "passed": self.passed, "failures": self.failures}

    def summary(self) -> str:
        """The line `ml-ci export` prints."""
        return (
            f"parity on {self.prompts} prompts: {self.identical} greedy continuations identical "
            f"({self.tokens} tokens, up to {self.max_new_tokens} each), max |logit diff| {self.max_abs_logit_diff:.2e}"
        )


def _difference(prompt: str, reference: Sequence[int], exported: Sequence[int]) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(reference, exported, strict=False)) if a != b), min(len(reference), len(exported))
    )
    shown = prompt if len(prompt) <= 40 else prompt[:37] + "..."
    return f"{shown!r} differs at new token {at} ({len(reference)} tokens in PyTorch, {len(exported)} exported)"


def parity(model: TorchLM, served: LanguageModel, inputs: list[dict[str, Any]], truth: Any, package: Package) -> Parity:
    """The first PARITY_PROMPTS prompts (evaluate.prompts' items, then the validation records): PyTorch's greedy
    continuation and logits against the served model's."""
    import numpy as np

    from ml_ci.tasks.text_generation.runtime import Settings

    records = ([item.record for item in model.prompt_items()] + list(inputs))[:PARITY_PROMPTS]
    if not records:
        raise ValueError("no prompts to compare PyTorch and the exported model on")
    max_new = served.settings.max_new_tokens
    identical = tokens = mismatched = 0
    worst, total, count = 0.0, 0.0, 0
    first: Optional[str] = None
    for record in records:
        text, ids = model.prompt_text(record), model.prompt_ids(record)
        served_ids = served.prompt_ids(text)
        mismatched += served_ids != ids
        reference = model.greedy(ids, max_new)
        exported = list(served.runtime.generate(served_ids, Settings(max_new_tokens=max_new)).tokens)
        tokens += len(reference)
        if reference == exported:
            identical += 1
        elif first is None:
            first = _difference(text, reference, exported)
        diff = np.abs(model.first_logits(ids).astype(np.float64) - served.runtime.first_logits(ids).astype(np.float64))
        worst, total, count = max(worst, float(diff.max())), total + float(diff.sum()), count + diff.size
    return Parity(
        prompts=len(records),
        identical=identical,
        tokens=tokens,
        max_new_tokens=max_new,
        prompt_mismatches=mismatched,
        max_abs_logit_diff=worst,
        mean_abs_logit_diff=total / count if count else 0.0,
        first_difference=first,
        min_agreement=package.min_agreement,
    )


def read_parity(data: dict[str, Any]) -> Parity:
    """parity.json back (its `agreement`, `quantize`, `sha256`, `passed` and `failures` are left to the file)."""
    names = set(Parity.__dataclass_fields__)
    return Parity(**{k: v for k, v in data.items() if k in names})


# --- golden examples --------------------------------------------------------------------------


def golden(
    model: TorchLM, served: LanguageModel, inputs: list[dict[str, Any]], truth: Any, count: int, tolerance: float
) -> GoldenRecord:
    """golden.json for the first `count` prompts (evaluate.prompts' items, then the test records): each prompt (as
    rendered) with the served completion, which the server must give back exactly (text has no tolerance; `tolerance`
    is recorded as every golden.json does), and the reference beside it. An item also keeps what evaluate hashes it
    by (`text`) and its own max_new_tokens, so that the image check can compare with evaluate's completion."""
    cases: list[tuple[Mapping[str, Any], Optional[str], dict[str, Any]]] = [
        (item.record, item.reference, {"text": item.text, "item_max_new_tokens": item.max_new_tokens})
        for item in model.prompt_items()
    ]
    cases += [(r, truth[i] if truth is not None else None, {}) for i, r in enumerate(inputs)]
    cases = cases[:count]
    texts = [model.prompt_text(record) for record, _, _ in cases]
    rows = [
        {"prompt": text, "expected": {"completion": completion}, "reference": reference, **extra}
        for text, completion, (_, reference, extra) in zip(texts, served.predict(texts), cases, strict=True)
    ]
    g = served.settings
    return GoldenRecord(
        examples=tuple(rows), tolerance=tolerance, payload={"max_new_tokens": g.max_new_tokens, "stop": list(g.stop)}
    )
