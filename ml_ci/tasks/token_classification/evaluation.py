"""token-classification's evaluation half (`ml_ci.tasks.protocols.evaluation.EvaluationHalf`).

Examples: each sentence's words joined by single spaces (the data check refuses words that are empty or hold
whitespace, so `text.split(" ")` gives them back); truth: each word's true tag name (`Sentences`: a list that
also knows data.scheme and data.entity_types, so the paired test can read entities without the config);
outputs: each word's predicted tag name, from the first subword of the word (words cut by model.max_length:
"O"). The scores are `scores.score`'s (seqeval strict entity matching, micro/macro/per type, token accuracy);
every one is paired over sentences by a bootstrap that recomputes it from resampled sentences' counts.
The report adds the per-type table (with deltas against the baselines) and the confusion of entity types.

Examples.columns carries `entities` (`none` or `some`: whether the sentence has a true entity) besides the
data.slice_columns, for the slice of sentences with no entity: `{name: no-entity, column: entities, value: none}`
(config.SLICE_COLUMNS lets ml.yaml name it without data.slice_columns).

torch and transformers are imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml_ci.errors import DataCheckError, OperationalError
from ml_ci.evaluate.batches import padded_batches
from ml_ci.tasks.protocols.evaluation import Examples, Paired, ReportParts, Rows, Scores
from ml_ci.tasks.token_classification import decode
from ml_ci.tasks.token_classification import scores as sc
from ml_ci.tasks.token_classification.config import of
from ml_ci.tasks.token_classification.data import TAGS, TOKENS

if TYPE_CHECKING:
    from ml_ci.config.model import Config
    from ml_ci.records.evaluation import EvalRecord

BATCH_SIZE = 64
HEADLINE_METRICS: tuple[tuple[str, str], ...] = (("f1_micro", "entity F1 micro"), ("token_accuracy", "token accuracy"))
RECORD_HEAD: tuple[str, ...] = ("entity_types", "tags")
LATENCY_RUNTIME = "onnxruntime, through ml-ci serve's Tagger (the serving image's code path), one text per request"
ENTITIES = "entities"  # the derived slice column (config.SLICE_COLUMNS): "none" or "some" true entity in the sentence
PER_TYPE_HEADER = ["type", "precision", "recall", "F1", "support", "predicted"]
OUTSIDE = "O"


class Sentences(list[list[str]]):
    """Each sentence's true tag names, one per word, and the scheme and entity types they are read with."""

    def __init__(self, tags: Sequence[Sequence[str]], scheme: str, types: Sequence[str]) -> None:
        super().__init__(list(t) for t in tags)
        self.scheme = scheme
        self.types = tuple(types)


# --- the split ----------------------------------------------------------------------------------


def _tag_names(value: Any, tags: tuple[str, ...], role: str, row: int) -> list[str]:
    names: list[str] = []
    for tag in value:
        if isinstance(tag, str) and tag in tags:
            names.append(tag)
        elif isinstance(tag, (int, np.integer)) and not isinstance(tag, bool) and 0 <= int(tag) < len(tags):
            names.append(tags[int(tag)])
        else:
            raise DataCheckError(f"the {role} split's sentence {row} has tag {tag!r}, not one of {list(tags)}")
    return names


def examples(config: Config, role: str, columns: dict[str, list[Any]], fingerprint: str | None) -> Examples:
    """Check and take out what evaluate needs from the split's columns."""
    spec = of(config)
    for col in (TOKENS, TAGS):
        if col not in columns:
            raise DataCheckError(f"the {role} split has no column {col!r}")
    if not columns[TOKENS]:
        raise DataCheckError(f"the {role} split is empty: nothing to evaluate")
    texts: list[str] = []
    truth: list[list[str]] = []
    for row, (words, tags) in enumerate(zip(columns[TOKENS], columns[TAGS], strict=True)):
        names = _tag_names(tags or [], spec.tags, role, row)
        words = [str(w) for w in words or []]
        if not words or len(words) != len(names) or any(not w or any(c.isspace() for c in w) for w in words):
            raise DataCheckError(
                f"the {role} split's sentence {row} is not words with one tag each ({len(words)} words, {len(names)} tags; "
                "a word must be non-empty, without whitespace): run `ml-ci data check`"
            )
        texts.append(" ".join(words))
        truth.append(names)
    sentences = Sentences(truth, spec.scheme, spec.entity_types)
    slice_cols = {c: columns[c] for c in config.data.slice_columns if c in columns}
    slice_cols.setdefault(ENTITIES, ["some" if any(t != OUTSIDE for t in tags) else "none" for tags in truth])
    return Examples(role, texts, sentences, slice_cols, fingerprint)


# --- the model ----------------------------------------------------------------------------------


@dataclass
class Model:
    """A loaded tagger and the tag name of each of its outputs."""

    model: Any
    tokenizer: Any
    tags: list[str]  # tags[i] = the tag the model's output i stands for
    max_length: int


def model_tags(id2label: Mapping[Any, Any], n: int, wanted: tuple[str, ...], model_dir: Path) -> list[str]:
    """The model's tag per output; refuse a model trained for another tag list."""
    tags = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]
    if sorted(tags) != sorted(wanted):
        raise OperationalError(
            f"the model in {model_dir} predicts tags {tags}, but ml.yaml's data.entity_types and data.scheme make "
            f"{list(wanted)}: retrain the model for these entity types (`ml-ci train`)"
        )
    return tags


def load(model_dir: Path, config: Config) -> Model:
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per load is noise in CI logs
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForTokenClassification.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise OperationalError(f"cannot load the model in {model_dir}: {e}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise OperationalError(f"the tokenizer in {model_dir} is not a fast tokenizer: words cannot be mapped to subwords")
    model.eval()
    tags = model_tags(model.config.id2label or {}, model.config.num_labels, of(config).tags, model_dir)
    return Model(model, tokenizer, tags, config.model.max_length)


def predict(m: Model, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> list[list[str]]:
    """Each text's predicted tag per word (its words: the text split on single spaces), in the order of texts."""
    import torch

    words = [t.split(" ") for t in texts]
    enc = m.tokenizer(words, is_split_into_words=True, truncation=True, max_length=m.max_length)
    ids: list[list[int]] = enc["input_ids"]
    types: list[list[int]] | None = enc.get("token_type_ids")
    pad_id = m.tokenizer.pad_token_id or 0
    out: list[list[str]] = [[] for _ in texts]
    bad = 0
    with torch.inference_mode():
        for idx, batch in padded_batches(ids, types, pad_id, batch_size):
            logits = m.model(**batch).logits.float().numpy()
            for row, i in enumerate(idx):
                # The server's rule (decode.first_subwords): a word's first subword, none for a word cut off.
                firsts = decode.first_subwords(enc.word_ids(int(i)), len(words[int(i)]))
                found = [(w, p) for w, p in enumerate(firsts) if p is not None]
                picked = logits[row, [p for _, p in found]]
                bad += int(not np.isfinite(picked).all())
                tags = [OUTSIDE] * len(firsts)
                for (w, _), best in zip(found, picked.argmax(axis=-1) if found else [], strict=True):
                    tags[w] = m.tags[int(best)]
                out[int(i)] = tags
    if bad:
        raise OperationalError(
            f"the model produced NaN or infinite scores for {bad} of {len(texts)} sentences: its weights are broken, "
            "e.g. trained with a diverging loss; retrain it (`ml-ci train`)"
        )
    return out


def serving_copy(model_dir: Path, dest: Path, config: Config) -> Path:
    """dest/ as `ml-ci export` writes it, as far as the server reads it (export's own functions do the export)."""
    from ml_ci.export import onnx_export
    from ml_ci.tasks.token_classification.export import TorchTagger, manifest_payload
    from ml_ci.tasks.token_classification.serving import TOKENIZER

    return onnx_export.serving_copy(
        TorchTagger(model_dir, config.model.max_length),
        dest,
        name=config.name,
        payload=manifest_payload(config),
        max_length=config.model.max_length,
        opset=config.package.opset,
        quantize=config.package.quantize,
        tokenizer=model_dir / TOKENIZER,
    )


def outputs(loaded: Any, examples: Examples) -> Any:
    return predict(loaded, examples.texts)


def key_inputs(config: Config) -> dict[str, Any]:
    return {}


def latency_predictor(model_dir: Path, work: Path, config: Config) -> Callable[[list[str]], Any]:
    """The server's own Tagger (tokenizers + onnxruntime, raw texts split into words as the server splits
    them, entities decoded) on a serving copy exported into `work`."""
    from ml_ci.tasks.token_classification.serving import Tagger

    timed: Callable[[list[str]], Any] = Tagger(serving_copy(model_dir, work, config)).predict
    return timed


# --- scores -------------------------------------------------------------------------------------


def score(config: Config, truth: Sentences, outputs: list[list[str]], rows: Rows | None = None) -> Scores:
    spec = of(config)
    if rows is not None:
        truth = Sentences([truth[int(i)] for i in rows], spec.scheme, spec.entity_types)
        outputs = [outputs[int(i)] for i in rows]
    s = sc.score(truth, outputs, spec.scheme, spec.entity_types)
    record = {"per_type": {k: vars(v) for k, v in s.per_type.items()}, "entity_confusion": s.confusion}
    return Scores(s.metrics, s.undefined, record)


def paired(
    metric: str, truth: Sentences, current: list[list[str]], baseline: list[list[str]], mine: Rows, theirs: Rows
) -> Paired | None:
    if not sc.is_metric(metric, truth.types):
        return None
    y = [truth[int(i)] for i in mine]
    ours = sc.counts(y, [current[int(i)] for i in mine], truth.scheme, truth.types)
    base = sc.counts(y, [baseline[int(j)] for j in theirs], truth.scheme, truth.types)

    def statistic(rows: Rows) -> tuple[float, float]:
        return sc.metric_value(metric, ours.take(rows)), sc.metric_value(metric, base.take(rows))

    return Paired(len(y), statistic)


# --- the record ---------------------------------------------------------------------------------


def record_head(config: Config) -> dict[str, Any]:
    spec = of(config)
    return {"scheme": spec.scheme, "entity_types": list(spec.entity_types), "tags": list(spec.tags)}


def prediction_rows(config: Config, truth: Sentences, outputs: list[list[str]]) -> list[dict[str, Any]]:
    return [{"tags": list(t), "predicted": list(p)} for t, p in zip(truth, outputs, strict=True)]


def read_predictions(config: Config, rows: Sequence[Mapping[str, Any]]) -> tuple[Sentences, list[list[str]]]:
    spec = of(config)
    known = set(spec.tags)
    truth, outputs = [], []
    for r in rows:
        t, p = list(r["tags"]), list(r["predicted"])
        if len(t) != len(p) or not set(t) | set(p) <= known:
            raise ValueError("a prediction row with other tags or lengths")
        truth.append(t)
        outputs.append(p)
    return Sentences(truth, spec.scheme, spec.entity_types), outputs


def check_baseline(record: EvalRecord, config: Config, source: str) -> None:
    spec = of(config)
    theirs = (record.task_head.get("scheme"), list(record.task_head.get("entity_types") or []))
    ours = (spec.scheme, list(spec.entity_types))
    if theirs != ours:
        raise OperationalError(
            f"baseline {source} tags entity types {theirs[1]} in {theirs[0]}, but ml.yaml has data.entity_types "
            f"{ours[1]} in data.scheme {ours[0]}: a model of other entity types is not a baseline"
        )


# --- the report ---------------------------------------------------------------------------------


def _baselines(record: EvalRecord) -> list[tuple[str, Mapping[str, Any]]]:
    from ml_ci.report.markdown import AGAINST_ORDER

    found = {k: v for k, v in record.baselines.items() if v}
    return [(a, found[a].get("metrics") or {}) for a in AGAINST_ORDER if a in found]


def per_type_rows(record: EvalRecord) -> tuple[list[str], list[list[str]]]:
    """The per-type table: P/R/F1/support/predicted, then F1's change against each baseline."""
    from ml_ci.report.markdown import plain_num

    baselines = _baselines(record)
    header = [*PER_TYPE_HEADER, *(f"F1 Δ {a}" for a, _ in baselines)]
    rows = []
    for name, t in (record.task_scores.get("per_type") or {}).items():
        row = [
            str(name),
            *(plain_num(t.get(k)) for k in ("precision", "recall", "f1")),
            str(t.get("support")),
            str(t.get("predicted")),
        ]
        for _, metrics in baselines:
            now, then = t.get("f1"), metrics.get(f"f1.{name}")
            both = isinstance(now, (int, float)) and isinstance(then, (int, float))
            row.append(f"{now - then:+.4f}" if both else "n/a")
        rows.append(row)
    return header, rows


def confusion_table(record: EvalRecord) -> str:
    from ml_ci.report.markdown import escape, table

    c = record.task_scores.get("entity_confusion") or {}
    names = [escape(str(x)) for x in c.get("types", [])]
    rows = [[f"**{names[i]}**", *(str(v) for v in row)] for i, row in enumerate(c.get("matrix") or [])]
    return table(["true \\ predicted", *names], rows) + (
        "\n\nEach true entity is counted against the predicted entity with its exact span, else the one overlapping "
        "it most; (none): missed (a column) or spurious (a row). The diagonal includes boundary errors."
    )


def report(record: EvalRecord) -> ReportParts:
    from ml_ci.report import markdown, text

    header, rows = per_type_rows(record)
    return ReportParts(
        headline=HEADLINE_METRICS,
        sections=(
            ("Per entity type", markdown.escaped_table(header, rows)),
            ("Entity type confusion", confusion_table(record)),
        ),
        text=("per entity type:\n" + text.table(header, rows),) if rows else (),
        plots="precision, recall and F1 per entity type",
    )


def per_type_png(per_type: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    from ml_ci.report.plots import figure

    names = list(per_type)
    xs = np.arange(len(names))
    with figure(path, figsize=(2.5 + 0.9 * len(names), 3.2)) as (_, ax):
        for k, kind in enumerate(("precision", "recall", "f1")):
            values = [per_type[n].get(kind) for n in names]
            ax.bar(xs + (k - 1) * 0.27, [np.nan if v is None else v for v in values], width=0.27, label=kind)
        ax.set_xticks(xs, labels=names)
        ax.set_ylim(0, 1)
        ax.set_title("per entity type")
        ax.legend(loc="lower left")
    return path


def plots(record: EvalRecord, folder: Path) -> list[Path]:
    return [per_type_png(record.task_scores.get("per_type") or {}, folder / "per_type.png")]
