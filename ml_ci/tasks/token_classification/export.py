"""token-classification's export half (`ml_ci.tasks.protocols.export.ExportHalf`): the model class and its
ONNX graph, the parity check against PyTorch, and the golden examples.

The graph takes input_ids and attention_mask (and token_type_ids where the tokenizer makes them) and gives
logits [batch, sequence, tags], both axes dynamic; the TorchScript-based exporter is used, as for the
classifier (text_classification/export.py says why).

Parity compares, on the validation split, PyTorch with the exported model as the server runs it
(`serving.Tagger`), word by word (each word's first subword, as served):
- tag agreement: the words whose tag (argmax) is the same, against package.min_agreement (the smallest
  fraction of identical predictions, as the classifier's agreement);
- entity agreement: the F1 of the exported model's entities measured against PyTorch's (both decoded as
  the server decodes: the entities served), against package.min_agreement too (1.0 when neither has any);
- when the split has tags: the drop in entity F1 against the gold tags (micro, exact type and words), from
  PyTorch to the exported model, against package.max_accuracy_drop (as the classifier's accuracy drop).
Golden examples are test sentences (their words) with the entities the served model gives and PyTorch's
beside them; a word whose top two tag probabilities are within `2 * tolerance` is listed in `near_ties`
(see the serving half's comparison).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from ml_ci.records.golden import DEFAULT_TOLERANCE, GoldenRecord
from ml_ci.tasks.token_classification import decode, words
from ml_ci.tasks.token_classification.config import of as spec_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ml_ci.config.model import Config, Package
    from ml_ci.records.model import ModelRecord
    from ml_ci.tasks.token_classification.decode import Floats
    from ml_ci.tasks.token_classification.serving import Tagger

# --- the model and its graph ------------------------------------------------------------------


class TorchTagger:
    """The trained Hugging Face token-classification model and its tokenizer, in eval mode on CPU."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        self.folder = folder
        self.max_length = max_length
        self.tokenizer: Any = AutoTokenizer.from_pretrained(folder)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError("the model's tokenizer has no fast (tokenizer.json) version, which serving needs")
        # Eager attention traces into plain ONNX ops; SDPA's shape checks would be frozen by the tracer.
        self.model: Any = AutoModelForTokenClassification.from_pretrained(folder, attn_implementation="eager").eval()
        names = self.tokenizer.model_input_names
        self.inputs = tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id or 0)

    def encode(self, sentences: Sequence[Sequence[str]]) -> Any:
        return self.tokenizer(
            [list(s) for s in sentences],
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )

    def word_logits(self, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> list[Floats]:
        """Each sentence's logits at its words' first subwords (words x tags; NaN for a word cut off)."""
        import torch

        out: list[Floats] = []
        with torch.inference_mode():
            for i in range(0, len(sentences), batch_size):
                chunk = sentences[i : i + batch_size]
                enc = self.encode(chunk)
                logits = self.model(**{k: enc[k] for k in self.inputs}).logits.float().numpy()
                for row, tokens in enumerate(chunk):
                    out.append(decode.gather(logits[row], decode.first_subwords(enc.word_ids(row), len(tokens))))
        return out

    def export(self, path: Path, opset: int) -> None:
        from ml_ci.export.onnx_export import trace

        # A padded batch of two lengths, so that the traced graph has the attention-mask path.
        example = self.encode([["a", "short", "text"], ["a", "somewhat", "longer", "text", "that", "needs", "more", "tokens"]])
        trace(self.model, self.inputs, example, path, opset, {0: "batch", 1: "sequence"})


SERVED_FILES: tuple[str, ...] = ()  # model.onnx and tokenizer.json are all it serves from


def load(model_dir: Path, config: Config) -> TorchTagger:
    """The trained model, checked against ml.yaml: one output per tag, in the tag list's order (model.json's
    `tags`, which the server reads)."""
    from ml_ci.errors import OperationalError
    from ml_ci.tasks.token_classification.evaluation import model_tags

    wanted = spec_of(config).tags
    torch_model = TorchTagger(model_dir, config.model.max_length)
    cfg = torch_model.model.config
    tags = model_tags(cfg.id2label or {}, cfg.num_labels, wanted, model_dir)
    if tuple(tags) != wanted:
        raise OperationalError(
            f"the model in {model_dir} gives its tags in the order {tags}, but ml.yaml's data.entity_types and data.scheme "
            f"number them {list(wanted)}: retrain the model (`ml-ci train`)"
        )
    return torch_model


def manifest_payload(config: Config) -> dict[str, Any]:
    spec = spec_of(config)
    return {"scheme": spec.scheme, "entity_types": list(spec.entity_types), "tags": list(spec.tags)}


def image_labels(model: ModelRecord) -> dict[str, str]:
    """The scheme and the entity types (comma-separated), as `io.ml-ci.model.scheme` and `.entity_types`."""
    return {"scheme": str(model.payload["scheme"]), "entity_types": ",".join(model.payload["entity_types"])}


def examples(dataset: Any) -> tuple[list[list[str]], Optional[list[list[str]]]]:
    """A split's sentences (their words) and gold tag names (None when the split has no tags)."""
    from ml_ci.tasks.token_classification.data import TAGS, TOKENS

    sentences = [[str(w) for w in row] for row in dataset[TOKENS]]
    if TAGS not in dataset.column_names:
        return sentences, None
    names = getattr(getattr(dataset.features[TAGS], "feature", None), "names", None)
    truth = [[str(t) if isinstance(t, str) or names is None else names[int(t)] for t in row] for row in dataset[TAGS]]
    return sentences, truth


# --- parity -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Parity:
    examples: int  # sentences
    words: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    tag_agreement: float
    entity_f1: float  # the exported model's entities against PyTorch's
    entities_pytorch: int
    entities_exported: int
    f1_pytorch: Optional[float]  # entity F1 against the gold tags
    f1_exported: Optional[float]
    f1_drop: Optional[float]
    min_agreement: float
    max_accuracy_drop: float

    @property
    def failures(self) -> list[str]:
        problems = []
        if self.tag_agreement < self.min_agreement:
            problems.append(
                f"the exported model tags {self.tag_agreement:.2%} of {self.words} validation words as PyTorch does; "
                f"package.min_agreement is {self.min_agreement:.2%}"
            )
        if self.entity_f1 < self.min_agreement:
            problems.append(
                f"the exported model's entities match PyTorch's with F1 {self.entity_f1:.4f} on {self.examples} validation "
                f"sentences ({self.entities_pytorch} entities in PyTorch, {self.entities_exported} exported); "
                f"package.min_agreement is {self.min_agreement:.2%}"
            )
        if self.f1_drop is not None and self.f1_drop > self.max_accuracy_drop:
            problems.append(
                f"entity F1 drops by {self.f1_drop:.4f} ({self.f1_pytorch:.4f} in PyTorch, {self.f1_exported:.4f} "
                f"exported); package.max_accuracy_drop is {self.max_accuracy_drop}"
            )
        return problems

    @property
    def passed(self) -> bool:
        return not self.failures

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "failures": self.failures}

    def summary(self) -> str:
        """The line `ml-ci export` prints."""
        line = (
            f"parity on {self.examples} validation sentences ({self.words} words): tag agreement {self.tag_agreement:.2%}, "
            f"entity F1 against PyTorch {self.entity_f1:.4f}, max |logit diff| {self.max_abs_logit_diff:.2e}"
        )
        if self.f1_exported is not None:
            line += f", entity F1 {self.f1_pytorch:.4f} -> {self.f1_exported:.4f}"
        return line


Key = tuple[int, str, int, int]  # sentence, type, first word, last word


def _spans(tag_lists: Sequence[Sequence[str]], scheme: str) -> set[Key]:
    return {(k, s.type, s.first, s.last) for k, tags in enumerate(tag_lists) for s in decode.spans(tags, scheme)}


def _f1(found: set[Key], reference: set[Key]) -> Optional[float]:
    """Micro F1 of found against reference (exact matches); None when neither has any."""
    if not found and not reference:
        return None
    return 2 * len(found & reference) / (len(found) + len(reference))


def compare(
    reference: Sequence[Floats],
    exported: Sequence[Floats],
    truth: Optional[Sequence[Sequence[str]]],
    tags: Sequence[str],
    scheme: str,
    *,
    min_agreement: float,
    max_accuracy_drop: float,
) -> Parity:
    """reference and exported are each sentence's word logits (words x tags, NaN for a word cut off); truth the
    gold tag names per word, when known."""
    if len(reference) != len(exported) or not reference:
        raise ValueError(f"word logits of {len(reference)} and {len(exported)} sentences cannot be compared")
    ref_tags, exp_tags = [], []
    diffs: list[Any] = []
    agree = total = 0
    for ref, exp in zip(reference, exported, strict=True):
        if ref.shape != exp.shape:
            raise ValueError(f"word logits of shape {ref.shape} and {exp.shape} cannot be compared")
        r, e = decode.word_tags(ref, tags)[0], decode.word_tags(exp, tags)[0]
        ref_tags.append(r)
        exp_tags.append(e)
        both = ~(np.isnan(ref).any(axis=1) | np.isnan(exp).any(axis=1))
        diffs.append(np.abs(ref[both].astype(np.float64) - exp[both].astype(np.float64)).ravel())
        # A word cut off on one side only (never, with one tokenizer) counts as a disagreement.
        kept = ~(np.isnan(ref).any(axis=1) & np.isnan(exp).any(axis=1))
        total += int(kept.sum())
        agree += sum(1 for w in np.flatnonzero(kept) if r[w] == e[w])
    diff = np.concatenate(diffs) if diffs else np.zeros(0)
    ref_spans, exp_spans = _spans(ref_tags, scheme), _spans(exp_tags, scheme)
    f1_ref = f1_exp = drop = None
    if truth is not None:
        gold = _spans(truth, scheme)
        f1_ref, f1_exp = _f1(ref_spans, gold), _f1(exp_spans, gold)
        if f1_ref is not None and f1_exp is not None:
            drop = f1_ref - f1_exp
    entity_f1 = _f1(exp_spans, ref_spans)
    return Parity(
        examples=len(reference),
        words=total,
        max_abs_logit_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_logit_diff=float(diff.mean()) if diff.size else 0.0,
        tag_agreement=agree / total if total else 1.0,
        entity_f1=1.0 if entity_f1 is None else entity_f1,
        entities_pytorch=len(ref_spans),
        entities_exported=len(exp_spans),
        f1_pytorch=f1_ref,
        f1_exported=f1_exp,
        f1_drop=drop,
        min_agreement=min_agreement,
        max_accuracy_drop=max_accuracy_drop,
    )


def parity(model: TorchTagger, served: Tagger, inputs: list[list[str]], truth: Any, package: Package) -> Parity:
    """PyTorch's word logits against the served model's on the same sentences, judged by package's thresholds."""
    return compare(
        model.word_logits(inputs),
        served.word_logits(inputs),
        truth,
        served.tags,
        served.scheme,
        min_agreement=package.min_agreement,
        max_accuracy_drop=package.max_accuracy_drop,
    )


def read_parity(data: dict[str, Any]) -> Parity:
    """parity.json back (its `quantize`, `sha256`, `passed` and `failures` are left to the file)."""
    names = set(Parity.__dataclass_fields__)
    return Parity(**{k: v for k, v in data.items() if k in names})


# --- golden examples --------------------------------------------------------------------------


def _found(tokens: Sequence[str], logits: Floats, tags: Sequence[str], scheme: str) -> dict[str, Any]:
    text, offsets = words.join(list(tokens))
    names, scores = decode.word_tags(logits, tags)
    found = decode.entities(names, scores, offsets, text, scheme)
    return {"entities": [{**e.data(), "score": round(e.score, 7)} for e in found]}


def golden_record(
    sentences: Sequence[Sequence[str]],
    truth: Optional[Sequence[Sequence[str]]],
    tags: Sequence[str],
    scheme: str,
    expected: Sequence[Floats],
    pytorch: Sequence[Floats],
    count: int,
    tolerance: float = DEFAULT_TOLERANCE,
) -> GoldenRecord:
    """The first `count` sentences; `expected` (the served model's word logits) is what checks compare to."""
    rows: list[dict[str, Any]] = []
    for i, tokens in enumerate(sentences[:count]):
        rows.append(
            {
                "tokens": list(tokens),
                "tags": list(truth[i]) if truth is not None else None,
                "expected": _found(tokens, expected[i], tags, scheme),
                "pytorch": _found(tokens, pytorch[i], tags, scheme),
                "near_ties": decode.near_ties(expected[i], 2 * tolerance),
            }
        )
    return GoldenRecord(examples=tuple(rows), tolerance=tolerance, payload={"scheme": scheme, "tags": list(tags)})


def golden(model: TorchTagger, served: Tagger, inputs: list[list[str]], truth: Any, count: int, tolerance: float) -> GoldenRecord:
    """golden.json for the first `count` sentences: the served model's entities, and PyTorch's beside them."""
    first = inputs[:count]
    return golden_record(
        first, truth, served.tags, served.scheme, served.word_logits(first), model.word_logits(first), count, tolerance
    )
