"""token-classification's config half (`ml_ci.tasks.protocols.config.ConfigHalf`): its metrics (entity-level
precision, recall and F1, micro and macro, per entity type, and token accuracy), its keys of ml.yaml
(data.entity_types, data.scheme, the columns, the entity checks of data.checks), their checks and typed view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Optional

from ml_ci.errors import Problem

if TYPE_CHECKING:
    from ml_ci.config.model import Config, Data
    from ml_ci.tasks.protocols.config import ProblemAt

METRICS: tuple[str, ...] = (
    "f1_micro",
    "precision_micro",
    "recall_micro",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "token_accuracy",
)
LOWER_IS_BETTER: frozenset[str] = frozenset()
METRIC_RANGES: Mapping[str, tuple[float, float, bool]] = dict.fromkeys(METRICS, (0.0, 1.0, True))
# Per entity type: `f1.PER`, `precision.LOC`, `recall.ORG` (PER one of data.entity_types, `check` says so).
# evaluate.metrics and gates may name them; each is a fraction.
PER_TYPE: tuple[str, ...] = ("f1", "precision", "recall")
PATTERN_METRICS: Mapping[str, tuple[float, float, bool]] = {r"(f1|precision|recall)\.[A-Za-z0-9_]+": (0.0, 1.0, True)}
# evaluate.slices may slice by it without data.slice_columns: the evaluation half derives it from the true tags.
SLICE_COLUMNS: Mapping[str, str] = {"entities": "`none` for a sentence without a true entity, `some` otherwise"}
TUNE_METRICS: tuple[str, ...] = METRICS
DEFAULT_METRICS: tuple[str, ...] = (*METRICS, "latency_p50_ms", "latency_p95_ms", "size_mb")
TIMED: frozenset[str] = frozenset()
TOKEN_METRICS: bool = False  # its server answers entities, not generated tokens
CLIENT_PATHS: tuple[str, ...] = ()  # POST /v1/predict is all it serves
STARTUP_SECONDS: int = 120  # an encoder of up to a few hundred MB loads in seconds
TUNABLE: Mapping[str, Mapping[str, Any]] = {}  # the generic train.* hyperparameters only

SCHEMES = ("IOB2", "BIOES")
# Entity types are the part after `B-`: letters, digits and underscores, so `f1.TYPE` names one metric.
TYPE_PATTERN = "^[A-Za-z0-9_]+$"

SECTIONS: Mapping[str, Mapping[str, Any]] = {
    "data": {
        "properties": {
            "tokens_column": {
                "type": "string",
                "description": "Column holding each sentence's words, a list of strings (CoNLL files: `tokens`).",
                "minLength": 1,
                "default": "tokens",
                "examples": ["tokens", "words"],
            },
            "tags_column": {
                "type": "string",
                "description": "Column holding each word's tag, a list as long as the words: tag names (`B-PER`, "
                "`O`) or their indices into the tag list (`O`, then `B-` and `I-` (BIOES: also `E-`, `S-`) of each "
                "entity type in order, as Hugging Face datasets number them). CoNLL files: `tags`.",
                "minLength": 1,
                "default": "tags",
                "examples": ["tags", "ner_tags"],
            },
            "text_column": {
                "type": "string",
                "description": "With spans_column: the column holding the raw text, split into words as the server "
                "splits raw text (docs/tasks/token-classification.md).",
                "minLength": 1,
                "default": "text",
                "examples": ["text"],
            },
            "spans_column": {
                "type": "string",
                "description": "Data given as a text with character spans instead of words and tags: the column "
                "holding a list of {start, end, type} per text (end exclusive). Unset: words and tags.",
                "minLength": 1,
                "examples": ["entities"],
            },
            "scheme": {
                "type": "string",
                "description": "Tagging scheme: IOB2 (B- begins an entity, I- continues it) or BIOES (also E- ends "
                "one, S- is a one-word entity). Strict: I-X only after B-X or I-X.",
                "enum": list(SCHEMES),
                "default": "IOB2",
                "examples": ["BIOES"],
            },
            "entity_types": {
                "type": "array",
                "description": "Entity types, in order (the tag list is O, then each type's tags in this order).",
                "items": {"type": "string", "pattern": TYPE_PATTERN},
                "minItems": 1,
                "uniqueItems": True,
                "examples": [["PER", "LOC", "ORG", "MISC"]],
            },
            "checks": {
                "properties": {
                    "min_entities_per_type": {
                        "type": "integer",
                        "description": "Minimum entities of each type in the training split.",
                        "minimum": 0,
                        "default": 1,
                        "examples": [50],
                    },
                    "max_type_imbalance": {
                        "type": "number",
                        "description": "Largest allowed ratio between the entities of the most and the least frequent "
                        "type in training.",
                        "minimum": 1,
                        "default": 20.0,
                        "examples": [5.0],
                    },
                    "max_truncated_fraction": {
                        "type": "number",
                        "description": "Largest allowed fraction of a split's sentences longer than model.max_length "
                        "subwords (their last words would be cut: no tag is learned or predicted for them).",
                        "minimum": 0,
                        "maximum": 1,
                        "default": 0.01,
                        "examples": [0.0],
                    },
                }
            },
        },
        "required": ["entity_types"],
    },
}

MINIMAL_DATA: str = "  entity_types: [PER, LOC, ORG, MISC]\n"
INIT_DATA: str = (
    "  # CoNLL files (a `word TAG` line per word, a blank line between sentences), JSON Lines of\n"
    "  # {tokens: [...], tags: [...]}, or parquet, inside the repository\n"
    "  train: data/train.conll\n  validation: data/validation.conll\n  test: data/test.conll\n"
    "  scheme: IOB2\n  entity_types: [PER, LOC, ORG, MISC]\n"
)
INIT_MODEL: str = "  base: sentence-transformers/all-MiniLM-L6-v2\n  max_length: 128\n"
INIT_BOUND: str = "min: 0.80"
INIT_NEXT: str = "edit the data paths and entity types"


@dataclass(frozen=True, kw_only=True)
class TokenClassificationSpec:
    """The task's keys of ml.yaml, typed: what its data, training, evaluation and serving halves read."""

    entity_types: tuple[str, ...]
    scheme: Literal["IOB2", "BIOES"]
    tokens_column: str
    tags_column: str
    text_column: str
    spans_column: Optional[str]  # set: rows are a text with character spans, not words and tags
    min_entities_per_type: int  # data.checks
    max_type_imbalance: float  # data.checks
    max_truncated_fraction: float  # data.checks
    # model.base and model.max_length, as written: the data check counts the sentences whose subwords would be cut.
    base: str
    max_length: int

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag, in index order: O, then each entity type's prefixes (as Hugging Face datasets number them)."""
        return tag_list(self.entity_types, self.scheme)


def tag_list(entity_types: tuple[str, ...] | list[str], scheme: str) -> tuple[str, ...]:
    prefixes = ("B", "I") if scheme == "IOB2" else ("B", "I", "E", "S")
    return ("O", *(f"{p}-{t}" for t in entity_types for p in prefixes))


def task_params(data: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def spec(data: Mapping[str, Any]) -> TokenClassificationSpec:
    d = data["data"]
    return TokenClassificationSpec(
        entity_types=tuple(d["entity_types"]),
        scheme=d["scheme"],
        tokens_column=d["tokens_column"],
        tags_column=d["tags_column"],
        text_column=d["text_column"],
        spans_column=d.get("spans_column"),
        min_entities_per_type=d["checks"]["min_entities_per_type"],
        max_type_imbalance=d["checks"]["max_type_imbalance"],
        max_truncated_fraction=d["checks"]["max_truncated_fraction"],
        base=data["model"]["base"],
        max_length=data["model"]["max_length"],
    )


def of(config: Config | Data) -> TokenClassificationSpec:
    """The typed view load_config stored on a token-classification Config (and on its data section)."""
    if not isinstance(config.spec, TokenClassificationSpec):
        task = getattr(config, "task", None)
        what = f"{getattr(config, 'path', '')}: task {task!r}" if task else "the data section's task"
        raise TypeError(f"{what} is not token-classification")
    return config.spec


def check(data: Mapping[str, Any], problem: ProblemAt) -> list[Problem]:
    """A per-type metric (evaluate.metrics, gates, slice gates) names one of data.entity_types."""
    types = list(data["data"].get("entity_types") or [])
    problems: list[Problem] = []
    ev = data.get("evaluate") or {}

    def named(metric: object, at: tuple[Any, ...]) -> None:
        if isinstance(metric, str) and "." in metric:
            kind = metric.split(".", 1)[1]
            if kind not in types:
                problems.append(problem(at, f"{metric!r}: {kind!r} is not one of data.entity_types ({', '.join(types)})"))

    for i, metric in enumerate(ev.get("metrics") or []):
        named(metric, ("evaluate", "metrics", i))
    for i, gate in enumerate(ev.get("gates") or []):
        named(gate.get("metric"), ("evaluate", "gates", i, "metric"))
    for s, sl in enumerate(ev.get("slices") or []):
        for i, gate in enumerate(sl.get("gates") or []):
            named(gate.get("metric"), ("evaluate", "slices", s, "gates", i, "metric"))
    return problems
