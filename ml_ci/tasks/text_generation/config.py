"""text-generation's config half (`ml_ci.tasks.protocols.config.ConfigHalf`): its metrics (held-out loss and
perplexity, the prompt set's pass rate overall and per tag, ROUGE-L and chrF against references, time to first
token and tokens per second), its keys of ml.yaml (the record columns and chat template of data, the adapter,
packing and gradient checkpointing of train, the prompt set and generation settings of evaluate), their checks
and typed view."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from ml_ci.errors import Problem

if TYPE_CHECKING:
    from ml_ci.config.model import Config, Data
    from ml_ci.tasks.protocols.config import ProblemAt

METRICS: tuple[str, ...] = (
    "loss",
    "perplexity",
    "pass_rate",
    "rouge_l",
    "chrf",
    "time_to_first_token_ms",
    "tokens_per_second",
)
LOWER_IS_BETTER: frozenset[str] = frozenset({"loss", "perplexity", "time_to_first_token_ms"})
METRIC_RANGES: Mapping[str, tuple[float, float, bool]] = {
    "loss": (0.0, math.inf, True),  # nats per completion token
    "perplexity": (1.0, math.inf, True),
    "pass_rate": (0.0, 1.0, True),
    "rouge_l": (0.0, 1.0, True),
    "chrf": (0.0, 100.0, True),  # sacrebleu's scale, as papers quote it
    "time_to_first_token_ms": (0.0, math.inf, False),
    "tokens_per_second": (0.0, math.inf, False),
}
# The pass rate of the prompt items carrying one tag: `pass_rate.json` (`check` refuses no tag: tags are data).
TAG_PATTERN = "^[A-Za-z0-9_-]+$"
PATTERN_METRICS: Mapping[str, tuple[float, float, bool]] = {r"pass_rate\.[A-Za-z0-9_-]+": (0.0, 1.0, True)}
# evaluate.slices may slice by them without data.slice_columns: the evaluation half derives them.
SLICE_COLUMNS: Mapping[str, str] = {
    "tag": "a prompt item's tags (a slice per tag; split records have none)",
    "source": "`split` for a record of the evaluated split, `prompts` for an item of evaluate.prompts",
}
# Trainer's validation loss (and its exponential): the completion tokens' mean NLL on the validation split.
TUNE_METRICS: tuple[str, ...] = ("loss", "perplexity")
# No latency by default: it costs an export through ONNX Runtime GenAI, which not every architecture has.
DEFAULT_METRICS: tuple[str, ...] = ("loss", "perplexity", "pass_rate", "rouge_l", "chrf", "size_mb")
TIMED: frozenset[str] = frozenset({"time_to_first_token_ms", "tokens_per_second"})
# The OpenAI API's generation routes (serving.routes); GET /v1/models is a listing, not traffic.
CLIENT_PATHS: tuple[str, ...] = ("/v1/completions", "/v1/chat/completions")
TOKEN_METRICS: bool = True  # the engine's time to first token and tokens per second (metrics.GenerationMetrics)
# A model of several GB read from disk and mapped by ONNX Runtime GenAI, then a warm-up generation, on CPU: minutes.
STARTUP_SECONDS: int = 600

ASSERTIONS = ("equals", "contains", "icontains", "regex", "is-json", "max-length")

_ADAPTER_TYPES = ("none", "lora")
_RANK = {"type": "integer", "minimum": 1, "maximum": 1024, "description": "LoRA rank r (the adapter's inner size).", "default": 8}
_ALPHA = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 4096,
    "description": "LoRA alpha: the adapter's update is scaled by alpha / rank.",
    "default": 16,
}
_DROPOUT = {"type": "number", "minimum": 0, "maximum": 0.9, "description": "Dropout on the adapter's input.", "default": 0.05}
# The task's hyperparameters that tune.search_space and --params files may set: name -> JSON Schema of a value.
TUNABLE: Mapping[str, Mapping[str, Any]] = {"adapter.rank": _RANK, "adapter.alpha": _ALPHA, "adapter.dropout": _DROPOUT}

SECTIONS: Mapping[str, Mapping[str, Any]] = {
    "data": {
        "properties": {
            "prompt_column": {
                "type": "string",
                "description": "Prompt/completion records: the column holding the prompt.",
                "minLength": 1,
                "default": "prompt",
                "examples": ["prompt", "instruction"],
            },
            "completion_column": {
                "type": "string",
                "description": "Prompt/completion records: the column holding the completion the model learns "
                "(the loss is on its tokens only).",
                "minLength": 1,
                "default": "completion",
                "examples": ["completion", "response"],
            },
            "messages_column": {
                "type": "string",
                "description": "Chat records: the column holding the conversation, a list of {role, content} "
                "(system first if any, then user and assistant in turn, ending with assistant; the loss is on "
                "the assistant turns).",
                "minLength": 1,
                "default": "messages",
                "examples": ["messages", "conversation"],
            },
            "chat_template": {
                "type": "string",
                "description": "A Jinja chat template for chat records and chat prompts, used instead of the "
                "tokenizer's own (required for chat records when the tokenizer has none).",
                "minLength": 1,
                "examples": [
                    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}"
                    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
                ],
            },
            "checks": {
                "properties": {
                    "max_truncated_fraction": {
                        "type": "number",
                        "description": "Largest allowed fraction of a split's records longer than model.max_length "
                        "tokens once templated (their end would be cut: part of the completion is not learned).",
                        "minimum": 0,
                        "maximum": 1,
                        "default": 0.0,
                        "examples": [0.01],
                    }
                }
            },
        },
    },
    "train": {
        "properties": {
            "adapter": {
                "type": "object",
                "description": "Train the whole model (type: none) or a LoRA adapter on top of the frozen base "
                "(type: lora, with peft). The trained model folder then holds the adapter; export merges it.",
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string", "enum": list(_ADAPTER_TYPES), "default": "lora"},
                    "rank": _RANK,
                    "alpha": _ALPHA,
                    "dropout": _DROPOUT,
                    "target_modules": {
                        "description": "The modules LoRA adapts: all-linear (every linear layer but the output "
                        "head), or a list of module names (q_proj, v_proj, ...; c_attn for GPT-2).",
                        "type": ["string", "array"],
                        "pattern": "^all-linear$",
                        "items": {"type": "string", "minLength": 1},
                        "minItems": 1,
                        "uniqueItems": True,
                        "default": "all-linear",
                        "examples": [["q_proj", "v_proj"]],
                    },
                    "quantize_base": {
                        "type": "string",
                        "enum": ["none", "4bit"],
                        "description": "4bit: load the frozen base in 4-bit NF4 with bitsandbytes (QLoRA); needs a "
                        "CUDA GPU (refused on CPU).",
                        "default": "none",
                    },
                },
                "default": {"type": "lora"},
                "examples": [{"type": "lora", "rank": 16, "alpha": 32, "target_modules": ["q_proj", "v_proj"]}],
            },
            "packing": {
                "type": "boolean",
                "description": "Pack several records into each model.max_length row (fewer pad tokens; the loss "
                "stays on the completions).",
                "default": False,
            },
            "gradient_checkpointing": {
                "type": "boolean",
                "description": "Recompute activations in the backward pass: less memory, about a third more time.",
                "default": False,
            },
        }
    },
    "evaluate": {
        "properties": {
            "prompts": {
                "type": "string",
                "description": "A prompt set (JSON Lines inside the repository): items with a prompt or messages, "
                "tags, an optional reference and assertions (docs/tasks/text-generation.md).",
                "minLength": 1,
                "examples": ["eval/prompts.jsonl"],
            },
            "generation": {
                "type": "object",
                "description": "How the prompt set's completions are generated (greedy by default, so that a CI "
                "run is reproducible).",
                "additionalProperties": False,
                "properties": {
                    "max_new_tokens": {"type": "integer", "minimum": 1, "maximum": 32768, "default": 64},
                    "temperature": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 10,
                        "description": "0 is greedy decoding; above 0 samples (seeded by `seed`).",
                        "default": 0.0,
                    },
                    "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1.0},
                    "seed": {"type": "integer", "minimum": 0, "default": 0},
                    "stop": {
                        "type": "array",
                        "description": "Strings that end a completion (cut before them).",
                        "items": {"type": "string", "minLength": 1},
                        "default": [],
                    },
                },
                "default": {},
            },
        }
    },
}

MINIMAL_DATA: str = ""
INIT_DATA: str = (
    "  # JSON Lines of {prompt, completion} or of chat {messages: [{role, content}, ...]}, inside the repository\n"
    "  train: data/train.jsonl\n  validation: data/validation.jsonl\n  test: data/test.jsonl\n"
)
INIT_MODEL: str = "  base: Qwen/Qwen2.5-0.5B-Instruct\n  max_length: 512\n"
INIT_BOUND: str = "max: 2.0"  # the validation loss, nats per completion token
INIT_NEXT: str = "edit model.base (a causal LM) and the data paths"


@dataclass(frozen=True, kw_only=True)
class Adapter:
    type: Literal["none", "lora"]
    rank: int
    alpha: float
    dropout: float
    target_modules: Union[str, tuple[str, ...]]  # "all-linear" or module names
    quantize_base: Literal["none", "4bit"]


@dataclass(frozen=True, kw_only=True)
class Generation:
    max_new_tokens: int
    temperature: float  # 0: greedy
    top_p: float
    seed: int
    stop: tuple[str, ...]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True, kw_only=True)
class TextGenerationSpec:
    """The task's keys of ml.yaml, typed: what its data, training, evaluation and export halves read."""

    prompt_column: str
    completion_column: str
    messages_column: str
    chat_template: Optional[str]
    max_truncated_fraction: float  # data.checks
    adapter: Adapter
    packing: bool
    gradient_checkpointing: bool
    prompts: Optional[str]  # evaluate.prompts as written (relative to the repository)
    generation: Generation
    # model.base and model.max_length, as written: the data check renders and measures records with the base's tokenizer.
    base: str
    max_length: int

    def prompts_path(self, root: Path) -> Optional[Path]:
        return None if self.prompts is None else root / self.prompts


def spec(data: Mapping[str, Any]) -> TextGenerationSpec:
    d, t, e = data["data"], data["train"], data["evaluate"]
    a: dict[str, Any] = {
        "type": "lora",
        "rank": 8,
        "alpha": 16,
        "dropout": 0.05,
        "target_modules": "all-linear",
        "quantize_base": "none",
    }
    a.update(t.get("adapter") or {})
    g: dict[str, Any] = {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": []}
    g.update(e.get("generation") or {})
    modules = a["target_modules"]
    return TextGenerationSpec(
        prompt_column=d["prompt_column"],
        completion_column=d["completion_column"],
        messages_column=d["messages_column"],
        chat_template=d.get("chat_template"),
        max_truncated_fraction=d["checks"]["max_truncated_fraction"],
        adapter=Adapter(
            type=a["type"],
            rank=a["rank"],
            alpha=a["alpha"],
            dropout=a["dropout"],
            target_modules=modules if isinstance(modules, str) else tuple(modules),
            quantize_base=a["quantize_base"],
        ),
        packing=t["packing"],
        gradient_checkpointing=t["gradient_checkpointing"],
        prompts=e.get("prompts"),
        generation=Generation(
            max_new_tokens=g["max_new_tokens"],
            temperature=float(g["temperature"]),
            top_p=float(g["top_p"]),
            seed=g["seed"],
            stop=tuple(g["stop"]),
        ),
        base=data["model"]["base"],
        max_length=data["model"]["max_length"],
    )


def of(config: Config | Data) -> TextGenerationSpec:
    """The typed view load_config stored on a text-generation Config (and on its data section)."""
    if not isinstance(config.spec, TextGenerationSpec):
        task = getattr(config, "task", None)
        what = f"{getattr(config, 'path', '')}: task {task!r}" if task else "the data section's task"
        raise TypeError(f"{what} is not text-generation")
    return config.spec


def task_params(data: Mapping[str, Any]) -> dict[str, Any]:
    """The TUNABLE values ml.yaml gives (Train.task_params): the adapter's, when there is one."""
    s = spec(data)
    if s.adapter.type == "none":
        return {}
    return {"adapter.rank": s.adapter.rank, "adapter.alpha": s.adapter.alpha, "adapter.dropout": s.adapter.dropout}


def check(data: Mapping[str, Any], problem: ProblemAt) -> list[Problem]:
    """Rules across keys: what needs the prompt set, the adapter or an exported graph the runtime can take."""
    problems: list[Problem] = []
    s = spec(data)
    ev = data.get("evaluate") or {}
    needs_prompts = ("pass_rate", "rouge_l", "chrf", "time_to_first_token_ms", "tokens_per_second")

    def named(metric: object, at: tuple[Any, ...]) -> None:
        if s.prompts is None and isinstance(metric, str) and (metric in needs_prompts or metric.startswith("pass_rate.")):
            problems.append(problem(at, f"{metric!r} is measured on the prompt set: set evaluate.prompts (a JSON Lines file)"))

    for i, gate in enumerate(ev.get("gates") or []):
        named(gate.get("metric"), ("evaluate", "gates", i, "metric"))
    for j, sl in enumerate(ev.get("slices") or []):
        for i, gate in enumerate(sl.get("gates") or []):
            named(gate.get("metric"), ("evaluate", "slices", j, "gates", i, "metric"))
    adapter = (data["train"].get("adapter") or {}) if isinstance(data["train"].get("adapter"), dict) else {}
    defaults = {k: v.get("default") for k, v in SECTIONS["train"]["properties"]["adapter"]["properties"].items()}
    if s.adapter.type == "none":
        # The schema has filled in the defaults: only a value written otherwise was meant for an adapter.
        for key in ("rank", "alpha", "dropout", "target_modules", "quantize_base"):
            if key in adapter and adapter[key] != defaults.get(key):
                problems.append(
                    problem(("train", "adapter", key), f"'{key}' applies to a LoRA adapter; train.adapter.type is none")
                )
    tunable_set = [n for n in (data.get("tune") or {}).get("search_space", {}) if n in TUNABLE]
    if s.adapter.type == "none":
        for name in tunable_set:
            problems.append(
                problem(("tune", "search_space", name), f"{name!r} tunes a LoRA adapter; train.adapter.type is none", key=True)
            )
    if data["package"].get("quantize") == "int8":
        problems.append(
            problem(
                ("package", "quantize"),
                "int8 is not available for text-generation (the model is exported with ONNX Runtime GenAI in fp32); use none",
            )
        )
    return problems
