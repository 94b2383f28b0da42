"""text-generation's training half (`ml_ci.tasks.protocols.training.TrainingHalf`): model.base as a causal language
model (AutoModelForCausalLM), trained whole or through a LoRA adapter (peft), on records rendered by `render` with
the loss on the completion (assistant) tokens only.

- Adapter: `LoraConfig(r, lora_alpha, lora_dropout, target_modules, task_type="CAUSAL_LM")`, rank, alpha and dropout
  from the run's hyperparameters (Train.task_params: ml.yaml's train.adapter or a tuning trial's). The trained folder
  (Trainer.save_model on the PeftModel) holds the adapter and the tokenizer only; `load_trained` puts it back on
  model.base as ml.yaml names it (never adapter_config.json's path, which is where the base was on the machine that
  trained).
- QLoRA (train.adapter.quantize_base: 4bit): the frozen base loaded in 4-bit NF4 by bitsandbytes; CUDA only, refused
  (exit 2) before the model is loaded.
- Packing (train.packing): the train split's records are packed into rows of up to model.max_length tokens by TRL's
  best-fit-decreasing `pack_dataset` (a record is never split; one longer than max_length is cut as unpacked ones
  are), and each record keeps its own labels. Attention does not cross records: a packed row carries position ids
  restarting at 0 for each record and no attention mask, so transformers builds a block-diagonal causal mask (SDPA
  and eager) or hands the record boundaries to flash-attention's variable-length kernel (TRL's padding-free
  collator gives cu_seq_lens); the first token of each record is never a target, so no record learns from the one
  before it. Packing changes nothing the model computes, only how many pad tokens a batch carries. The validation
  split is never packed: its loss (Trainer's, the mean of each batch's mean per completion token) stays comparable
  between runs with and without packing.
- Batches (TRL's DataCollatorForLanguageModeling): input_ids padded with the pad token (the eos token when the
  tokenizer has none), labels with -100, and use_cache=False (training needs no KV cache, and transformers only
  reads packed rows' position ids when there is none).

Why not TRL's SFTTrainer: it is a Trainer of its own (dataset preparation, its own arguments and loss), and ml-ci's
one Trainer loop (ml_ci.train.fit: seeding, precision, DDP, checkpoints and resume, tuning's pruning) would then
fork per task. TRL's packing and collator are used as they are; its completion masks are not: they need either a
prompt tokenized apart from its completion or a chat template marked with {% generation %}, while `render` finds the
assistant turns of any template that renders incrementally.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, DataCheckError, OperationalError, Problem
from ml_ci.tasks.protocols.training import CardText, Loss
from ml_ci.tasks.text_generation import render as R
from ml_ci.tasks.text_generation.config import TextGenerationSpec, of
from ml_ci.train import base_model

if TYPE_CHECKING:
    from datasets import Dataset

    from ml_ci.train.params import HParams

ADAPTER_CONFIG = "adapter_config.json"
QUANTIZE_KEY = "train.adapter.quantize_base"


def _problem(config: Config, key: str, message: str) -> ConfigError:
    return ConfigError([Problem(str(config.path), 0, 0, key, message)])


def check_quantization(config: Config, cuda: bool) -> None:
    """QLoRA needs a CUDA GPU (bitsandbytes' 4-bit kernels): refused on a machine without one, naming the key."""
    if of(config).adapter.quantize_base == "4bit" and not cuda:
        raise _problem(
            config,
            QUANTIZE_KEY,
            "4bit (QLoRA) loads the base with bitsandbytes' 4-bit kernels, which need a CUDA GPU, and this machine has "
            "none; use quantize_base: none (LoRA on the full-precision base) or train on a GPU",
        )


def _quantization(config: Config) -> dict[str, Any]:
    """from_pretrained's keywords for the base's weights: fp32, or 4-bit NF4 (QLoRA) computed in bf16/fp16."""
    import torch

    check_quantization(config, torch.cuda.is_available())
    if of(config).adapter.quantize_base != "4bit":
        return {"dtype": torch.float32}
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise OperationalError(f"{QUANTIZE_KEY}: 4bit needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quant = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
    )
    # each process's quantized copy lives on its own GPU (4-bit weights cannot be moved after loading)
    return {"quantization_config": quant, "dtype": compute, "device_map": {"": int(os.environ.get("LOCAL_RANK", "0"))}}


def _with_pad_token(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:  # Llama's and GPT-2's have none: batches are padded with eos (labels -100 there)
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_pretrained(base: base_model.BaseModel, config: Config) -> tuple[Any, Any]:
    """The tokenizer (a pad token set) and model.base as a causal LM, in fp32 (4-bit for QLoRA)."""
    from transformers import AutoModelForCausalLM

    kwargs = _quantization(config)  # refuses QLoRA without a GPU before anything is loaded
    tokenizer, model = base_model.load_with_head(base, AutoModelForCausalLM, **kwargs)
    return _with_pad_token(tokenizer), model


def lora_settings(spec: TextGenerationSpec, hp: HParams) -> dict[str, Any]:
    """rank, alpha and dropout of this run: the tuned values (Train.task_params) over ml.yaml's."""
    params = hp.task_params
    return {
        "r": int(params.get("adapter.rank", spec.adapter.rank)),
        "lora_alpha": float(params.get("adapter.alpha", spec.adapter.alpha)),
        "lora_dropout": float(params.get("adapter.dropout", spec.adapter.dropout)),
    }


def adapt(model: Any, config: Config, hp: HParams) -> Any:
    """Gradient checkpointing when asked, then the LoRA adapter (type: lora) around the frozen base, or the model
    itself (type: none: every weight trains)."""
    spec = of(config)
    if spec.gradient_checkpointing:
        # non-reentrant: recomputation works when only the adapter's weights need gradients
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if spec.adapter.quantize_base == "4bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=spec.gradient_checkpointing)  # type: ignore[no-untyped-call]
    if spec.adapter.type == "none":
        return model
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    if spec.gradient_checkpointing:
        # the frozen embeddings' output needs a gradient, or checkpointed blocks before the first adapter get none
        model.enable_input_require_grads()
    modules = spec.adapter.target_modules
    lora = LoraConfig(
        **lora_settings(spec, hp),
        target_modules=modules if isinstance(modules, str) else list(modules),
        task_type="CAUSAL_LM",
        # GPT-2's layers are Conv1D, which store the weight transposed
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in model.modules()),
    )
    try:
        adapted = get_peft_model(model, lora)
    except ValueError as e:  # peft: "Target modules {...} not found in the base model"
        raise _problem(config, "train.adapter.target_modules", f"{modules!r}: {e}") from None
    # peft's save_pretrained writes a placeholder README.md ("More Information Needed") into the model folder; the
    # train stage writes the real card beside it, so the folder holds the adapter and the tokenizer only.
    adapted.create_or_update_model_card = lambda output_dir: None  # type: ignore[method-assign]
    return adapted


def _records(batch: Mapping[str, list[Any]], n: int) -> list[dict[str, Any]]:
    return [{name: batch[name][i] for name in (R.PROMPT, R.COMPLETION, R.MESSAGES) if name in batch} for i in range(n)]


def encode(dataset: Dataset, tokenizer: Any, config: Config, role: str) -> Dataset:
    """Each record rendered, tokenized and cut to model.max_length (labels -100 outside its completion); a record left
    with no completion token (cut before it) teaches nothing and is dropped. The train split is packed when
    train.packing is set (the module's docstring says how)."""
    spec = of(config)
    max_length = config.model.max_length

    def tokenize(batch: dict[str, list[Any]], indices: list[int]) -> dict[str, Any]:
        records = _records(batch, len(indices))
        rendered = []
        for i, record in zip(indices, records, strict=True):
            try:
                rendered.append(R.render(record, tokenizer, spec, where=f"{role} split, record {i + 1}"))
            except ValueError as e:
                raise DataCheckError(str(e)) from None
        enc = R.encode_many(rendered, tokenizer, max_length)
        return {"input_ids": enc["input_ids"], "labels": enc["labels"]}

    encoded: Dataset = dataset.map(
        tokenize, batched=True, with_indices=True, remove_columns=dataset.column_names, desc=f"tokenize {role}"
    )
    encoded = encoded.filter(lambda row: any(label != R.IGNORED for label in row["labels"]), desc=f"targets {role}")
    if role == "train" and spec.packing:
        encoded = pack(encoded, max_length)
    return encoded


def pack(encoded: Dataset, max_length: int) -> Dataset:
    """Rows of whole records up to max_length tokens (TRL's best fit decreasing), with each record's position ids
    restarting at 0: what tells the model where one record ends (the collator turns them into its boundaries)."""
    from trl.data_utils import pack_dataset

    packed: Dataset = pack_dataset(encoded, max_length, strategy="bfd")

    def positions(row: dict[str, Any]) -> dict[str, Any]:
        return {"position_ids": [p for n in row["seq_lengths"] for p in range(n)]}

    out: Dataset = packed.map(positions, remove_columns=["seq_lengths"], desc="positions")
    return out


def lengths_of(position_ids: list[int]) -> list[int]:
    """The records' lengths in a packed row, from its position ids (each record's restart at 0)."""
    starts = [i for i, p in enumerate(position_ids) if p == 0] + [len(position_ids)]
    return [b - a for a, b in itertools.pairwise(starts)]


class Collator:
    """Trainer's data_collator: TRL's language-modeling collator, padding-free for packed rows (those with
    position_ids), padded with the pad token and -100 labels otherwise; and no KV cache in the forward pass."""

    def __init__(self, pad_token_id: int) -> None:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.padded = DataCollatorForLanguageModeling(pad_token_id=pad_token_id)
        self.packed = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=True)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if "position_ids" in rows[0]:
            lengths = [{"seq_lengths": lengths_of(list(r["position_ids"]))} for r in rows]
            batch = self.packed(
                [{"input_ids": r["input_ids"], "labels": r["labels"], **n} for r, n in zip(rows, lengths, strict=True)]
            )
        else:
            batch = self.padded([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
        return {**batch, "use_cache": False}


def collator(tokenizer: Any) -> Any:
    return Collator(int(tokenizer.pad_token_id))


def compute_metrics(config: Config) -> Callable[[Any], dict[str, float]] | None:
    """None: the validation loss is the metric, and Trainer keeps no logits (vocabulary-wide per token)."""
    return None


def derived_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """perplexity = exp(loss), the loss being the mean negative log-likelihood per completion token in nats."""
    loss = metrics.get("loss")
    if loss is None or not math.isfinite(loss) or loss > 700:  # exp overflows a float past 709
        return metrics
    return {**metrics, "perplexity": math.exp(loss)}


def loss(config: Config, hp: HParams, train: Dataset) -> Loss | None:
    """The model's own cross-entropy, over the tokens whose label is not -100."""
    return None


# --- the one loader of a trained model ------------------------------------------------------


def is_adapter(model_dir: Path) -> bool:
    return (model_dir / ADAPTER_CONFIG).is_file()


def load_trained(model_dir: Path, config: Config, *, merged: bool = False) -> tuple[Any, Any]:
    """(tokenizer, model) of a trained folder, in eval mode, in fp32: a full model as saved, or model.base (as ml.yaml
    resolves it: folder, package or hub id at model.revision) with the folder's adapter on top; `merged` folds the
    adapter into the base's weights (peft's merge_and_unload: a plain transformers model, what export converts).
    What evaluation and export load; a QLoRA adapter goes on the full-precision base."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    if not is_adapter(model_dir):
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        return _with_pad_token(tokenizer), model.eval()
    from peft import PeftModel

    base = base_model.resolve(config)
    try:
        model = AutoModelForCausalLM.from_pretrained(base.location, revision=base.revision, dtype=torch.float32)
    except OSError as e:
        if base.is_local:
            raise
        raise base_model.load_error(base, e) from None
    has_tokenizer = any((model_dir / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer = AutoTokenizer.from_pretrained(
        model_dir if has_tokenizer else base.location, revision=None if has_tokenizer else base.revision
    )
    adapted = PeftModel.from_pretrained(model, str(model_dir))
    out: Any = adapted.merge_and_unload() if merged else adapted
    return _with_pad_token(tokenizer), out.eval()


# --- cache key, lineage, model card -------------------------------------------------------


def key_inputs(config: Config) -> dict[str, Any]:
    """Beyond model.* and train.*: the record columns and chat template (data.*) that decide the rendered text, and
    the versions of peft (the adapter's arithmetic) and TRL (packing and batches)."""
    from ml_ci.versions import package_versions

    spec = of(config)
    return {
        "columns": [spec.prompt_column, spec.completion_column, spec.messages_column],
        "chat_template": spec.chat_template,
        "adapter_packages": package_versions(("peft", "trl")),
    }


def lineage(config: Config, loss_weights: Mapping[str, float] | None) -> dict[str, Any]:
    """The adapter (its rank, alpha and dropout are among the hyperparameters), packing, checkpointing, and where the
    chat template comes from (the base model's identity is lineage's own base_model)."""
    import hashlib

    spec = of(config)
    a = spec.adapter
    modules = a.target_modules if isinstance(a.target_modules, str) else list(a.target_modules)
    template: dict[str, Any] = {"source": "data.chat_template" if spec.chat_template else "the base model's tokenizer"}
    if spec.chat_template:
        template["sha256"] = hashlib.sha256(spec.chat_template.encode("utf-8")).hexdigest()
    return {
        "adapter": {"type": a.type, "target_modules": modules, "quantize_base": a.quantize_base}
        if a.type == "lora"
        else {"type": "none"},
        "model_folder": "adapter (load it on model.base)" if a.type == "lora" else "full model",
        "packing": spec.packing,
        "gradient_checkpointing": spec.gradient_checkpointing,
        "chat_template": template,
        "loss": "cross-entropy on completion and assistant-turn tokens only",
    }


def card(config: Config) -> CardText:
    spec = of(config)
    subject = "A LoRA adapter for a causal language model" if spec.adapter.type == "lora" else "A causal language model"
    purpose = (
        " to complete prompts and chats like its training records (the loss, and its exponential the perplexity, "
        "are per completion token on the validation split)"
    )
    generate = (
        'inputs = tokenizer("Your prompt", return_tensors="pt")\n'
        "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0], skip_special_tokens=True))\n"
    )
    if spec.adapter.type == "lora":
        usage = (
            "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'base = AutoModelForCausalLM.from_pretrained("{spec.base}")  # the base model this adapter was trained on\n'
            'model = PeftModel.from_pretrained(base, "path/to/this/folder")  # .merge_and_unload() for plain weights\n'
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")\n' + generate
        )
    else:
        usage = (
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")\n'
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")\n' + generate
        )
    return CardText(pipeline_tag="text-generation", task_name="Text Generation", subject=subject, purpose=purpose, usage=usage)
