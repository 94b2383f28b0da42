"""text-classification's serving half (`ml_ci.tasks.protocols.serving.ServingHalf`): torch-free.

A request is `{"texts": ["...", ...]}` or `{"text": "..."}`; the answer is one `{"label",
"probabilities"}` per text (probabilities keyed by label) and the model's sha256. The exported model
runs through tokenizers + onnxruntime + numpy (`Classifier`); the export stage's parity check runs this
very class, so that what was checked is what is served.

Golden examples (export/golden.json): test texts with the prediction the served model must reproduce.
The image check (`ml-ci build`) and the deploy smoke test send the texts and compare: labels equal,
probabilities within the tolerance. An example whose top two probabilities nearly tie (`near_tie`,
marked by the export half) may flip its label between two correct runtimes, so only its probabilities
are compared (a check that can flip for no reason is no check).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci.records import model as model_record
from ml_ci.records.texts import text_hash
from ml_ci.serve import runtime
from ml_ci.serve.limits import Limits
from ml_ci.serve.protocol import Refusal, check_text, json_body, kind

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ml_ci.records.golden import GoldenRecord
    from ml_ci.serve.routes import Route, RouteContext
    from ml_ci.tasks.protocols.serving import Caller, ServedModel

TOKENIZER = "tokenizer.json"
RUNTIME: tuple[str, ...] = ()  # the generic serving runtime is all it needs
WARM_UP: list[Any] = ["warm up"]


# --- the server's side ------------------------------------------------------------------------


def parse(body: bytes, limits: Limits) -> list[str]:
    """The texts of a request body, or a Refusal (400 for bytes that are not JSON, 422 for JSON of the wrong shape)."""
    payload: Any = json_body(body)
    if not isinstance(payload, dict):
        raise Refusal(422, "invalid_request", 'send an object: {"texts": ["..."]} or {"text": "..."}')
    unknown = sorted(set(payload) - {"texts", "text"})
    if unknown:
        raise Refusal(
            422, "invalid_request", f"unknown key {unknown[0]!r}; send 'texts' (a list of strings) or 'text' (a string)"
        )
    if ("texts" in payload) == ("text" in payload):
        raise Refusal(422, "invalid_request", "send exactly one of 'texts' (a list of strings) or 'text' (a string)")
    texts: Any = payload["texts"] if "texts" in payload else [payload["text"]]
    if not isinstance(texts, list):
        raise Refusal(422, "invalid_request", f"'texts' must be a list of strings, not {kind(texts)}")
    if not texts:
        raise Refusal(422, "invalid_request", "'texts' is empty; send at least one text")
    if len(texts) > limits.max_texts:
        raise Refusal(422, "too_many_texts", f"{len(texts)} texts in one request; the limit is {limits.max_texts}")
    for i, item in enumerate(texts):
        check_text(item, f"texts[{i}]", limits, "classify")
    return texts


def predictions_body(labels: tuple[str, ...], probabilities: list[list[float]], model_sha256: str) -> bytes:
    """The response: one prediction per text, in order; probabilities keyed by label."""
    predictions = []
    for row in probabilities:
        best = max(range(len(row)), key=row.__getitem__)
        predictions.append({"label": labels[best], "probabilities": dict(zip(labels, row, strict=True))})
    return json.dumps({"predictions": predictions, "model_sha256": model_sha256}).encode()


def routes(context: RouteContext) -> Sequence[Route]:
    return ()  # POST /v1/predict is all it serves


def load(folder: Path, *, threads: int = 0, context: RouteContext | None = None) -> Classifier:
    return Classifier(folder, threads=threads)


def check(model: ServedModel, rows: list[Any]) -> None:
    labels = _labels(model)
    if len(rows) != 1 or len(rows[0]) != len(labels):
        raise RuntimeError(f"the warm-up prediction has shape {len(rows)}x{len(rows[0]) if rows else 0}")


def answer(model: ServedModel, rows: list[Any], model_sha256: str) -> bytes:
    return predictions_body(_labels(model), rows, model_sha256)


def _labels(model: ServedModel) -> tuple[str, ...]:
    return tuple(model.record.payload["labels"])


class Classifier:
    """Texts in, class probabilities out. Thread-compatible: the batcher calls it from one thread."""

    def __init__(self, folder: Path, *, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self.record = model_record.read(folder / model_record.FILE)
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.enable_truncation(max_length=self.record.max_length)
        self.tokenizer.no_padding()  # padding is done per length group (runtime.runs)
        self.session = runtime.session(folder / self.record.onnx, threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.record.payload["labels"])

    def logits(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One row of logits per text, in order (texts of similar length run together: runtime.runs)."""
        import numpy as np

        out = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        for group, logits in runtime.runs(self.session, self.record, self.tokenizer.encode_batch(texts)):
            out[group] = logits
        return out

    def probabilities(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return softmax(self.logits(texts))

    def predict(self, inputs: list[Any]) -> npt.NDArray[np.float32]:
        """The served rows: class probabilities, one row per text."""
        return self.probabilities(inputs)


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: npt.NDArray[np.float32] = e / e.sum(axis=-1, keepdims=True)
    return out


# --- the client's side: requests, answers, golden examples ----------------------------------


@dataclass(frozen=True)
class Prediction:
    """One answer of the server: the label and the probabilities by label."""

    label: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Golden:
    """One golden example: a text and the prediction the served model must reproduce."""

    text: str
    label: str
    probabilities: dict[str, float]
    # The top two classes nearly tie (export marks these): the label may flip between two correct
    # runtimes (int8 kernels batch differently), so only the probabilities are compared.
    near_tie: bool = False


def request(inputs: list[Any]) -> Any:
    return {"texts": inputs}


def answers(body: Any) -> list[Prediction]:
    """Accept {"predictions": [{label, probabilities}]} or {"labels": [...], "probabilities": [...]}."""
    if isinstance(body, dict) and isinstance(body.get("predictions"), list):
        out = []
        names = body.get("label_names") or body.get("classes")
        for p in body["predictions"]:
            probs = p.get("probabilities", p.get("scores", {}))
            if isinstance(probs, list):
                probs = dict(zip(names or [], probs, strict=False))
            out.append(Prediction(str(p["label"]), {str(k): float(v) for k, v in probs.items()}))
        return out
    if isinstance(body, dict) and isinstance(body.get("labels"), list):
        probs_list = body.get("probabilities") or [{} for _ in body["labels"]]
        return [
            Prediction(str(lbl), {str(k): float(v) for k, v in (pr.items() if isinstance(pr, dict) else [])})
            for lbl, pr in zip(body["labels"], probs_list, strict=False)
        ]
    raise ValueError('unrecognized /v1/predict answer (expected {"predictions": [{"label", "probabilities"}]})')


def golden_examples(record: GoldenRecord, source: str) -> list[Golden]:
    """The examples of export/golden.json: {"labels", "tolerance", "examples": [{"text", "expected": {label,
    probabilities}}]}. A row without "expected" may carry label and probabilities itself; probabilities may
    be a {label: p} mapping or a list in the order of "labels"."""
    from ml_ci.errors import OperationalError

    labels = record.payload.get("labels")
    out: list[Golden] = []
    for i, row in enumerate(record.examples):
        try:
            want = row.get("expected") or row
            probs = want["probabilities"]
            if isinstance(probs, list):
                probs = dict(zip(labels or [], probs, strict=True))
            out.append(
                Golden(
                    str(row["text"]),
                    str(want["label"]),
                    {str(k): float(v) for k, v in probs.items()},
                    bool(row.get("near_tie", False)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise OperationalError(f"{source}: golden example {i} is malformed ({e!r})") from None
    return out


def golden_inputs(examples: Sequence[Golden]) -> list[Any]:
    return [g.text for g in examples]


def mismatches(examples: Sequence[Golden], answers: Sequence[Prediction], tolerance: float, *, caller: Caller) -> list[str]:
    """Where the answers differ from the golden ones: labels must be equal (but near ties'), every
    probability within `tolerance` (a missing one is a difference). Empty when they agree.

    One comparison in two wordings, each kept as its messages always read: the build's image check
    (`build`: the worst difference over all labels) and deploy's smoke test (`smoke`: the first label off)."""
    smoke = caller == "smoke"
    problems: list[str] = []
    if len(answers) != len(examples):
        problems.append(
            f"sent {len(examples)} texts, got {len(answers)} predictions"
            if smoke
            else f"{len(answers)} answers for {len(examples)} golden examples"
        )
    for i, (g, p) in enumerate(zip(examples, answers, strict=False)):
        shown = (g.text if len(g.text) <= 40 else g.text[:37] + "...") if smoke else g.text[:60]
        if p.label != g.label and not g.near_tie:
            problems.append(f"example {i} ({shown!r}): label {p.label!r}, {'recorded' if smoke else 'expected'} {g.label!r}")
            continue
        got = p.probabilities
        off = [(name, want) for name, want in g.probabilities.items() if not abs(got.get(name, float("nan")) - want) <= tolerance]
        if not off:
            continue
        if smoke:
            name, want = off[0]
            problems.append(
                f"example {i}: no probability for {name!r}"
                if name not in got
                else f"example {i} ({shown!r}): p({name})={got[name]:.4f}, recorded {want:.4f} (tolerance {tolerance})"
            )
        else:
            missing = any(name not in got for name, _ in off)
            worst = float("nan") if missing else max(abs(got[name] - want) for name, want in g.probabilities.items())
            problems.append(f"example {i} ({shown!r}): probabilities differ by {worst:.2e} (tolerance {tolerance})")
    return problems


def eval_mismatches(record: GoldenRecord, answers: Sequence[Prediction], eval_record: Any) -> tuple[list[str], int]:
    """Compare answers with `ml-ci evaluate`'s predictions for the same texts (PyTorch on the test split):
    labels equal, probabilities within the golden tolerance. Returns the problems and how many were compared."""
    rows = eval_record.get("predictions") if isinstance(eval_record, dict) else None
    labels = record.payload.get("labels")
    if not isinstance(rows, list) or eval_record.get("labels", labels) != labels:
        return [], 0
    by_hash = {r.get("text_sha256"): r for r in rows if isinstance(r, dict)}
    tolerance = record.allowed
    problems, compared = [], 0
    for example, answer in zip(golden_examples(record, "golden.json"), answers, strict=True):
        row = by_hash.get(text_hash(example.text))
        if row is None:
            continue
        compared += 1
        if answer.label != row.get("predicted") and not example.near_tie:
            problems.append(f"{example.text[:60]!r}: label {answer.label!r}, evaluated {row.get('predicted')!r}")
            continue
        got = [float(answer.probabilities[label]) for label in labels]
        evaluated = row.get("probabilities") or []
        if len(evaluated) != len(got):
            problems.append(f"{example.text[:60]!r}: evaluate recorded {len(evaluated)} probabilities for {len(got)} labels")
            continue
        worst = max(abs(a - float(b)) for a, b in zip(got, evaluated, strict=True))
        if not worst <= tolerance:
            problems.append(f"{example.text[:60]!r}: probabilities differ from the evaluated ones by {worst:.2e}")
    return problems, compared
