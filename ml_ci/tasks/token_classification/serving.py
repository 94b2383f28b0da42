"""token-classification's serving half (`ml_ci.tasks.protocols.serving.ServingHalf`): torch-free.

A request is `{"texts": ["raw text", ...]}` (each text split into words by `words.split`, the splitter the
data half uses on texts with spans) or `{"tokens": [["EU", "rejects", ...], ...]}` (words as given), exactly
one of the two. The answer is one `{"entities": [{"type", "start", "end", "text", "score"}, ...]}` per
input and the model's sha256 (the classifier's envelope): offsets are characters into the text as sent, or
into the words joined by single spaces (`words.join`), end exclusive, and `text` is the text between them.

The exported model runs through tokenizers + onnxruntime + numpy (`Tagger`): the words are tokenized as
pre-split words, cut at model.max_length subwords (a word cut off is `O`: never in an entity), and
decoded by `decode` (first subword's tag per word, words grouped into entities). The export stage's parity
check runs this very class, so that what was checked is what is served.

Golden examples (export/golden.json): test sentences (as words) with the entities the served model must
give back. The image check (`ml-ci build`) and the deploy smoke test send the words and compare: the same
entities (type, start, end), each score within the tolerance. A word whose top two tags nearly tie may
flip between two correct runtimes (marked `near_ties` by the export half), and with it the entities on
it and beside it, so those are left out of the comparison (a check that can flip for no reason is no check).
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
from ml_ci.serve.protocol import Refusal, check_encodable, check_text, json_body, kind
from ml_ci.tasks.token_classification import decode, words
from ml_ci.tasks.token_classification.decode import Entity

if TYPE_CHECKING:
    from ml_ci.records.golden import GoldenRecord
    from ml_ci.serve.routes import Route, RouteContext
    from ml_ci.tasks.protocols.serving import Caller, ServedModel
    from ml_ci.tasks.token_classification.decode import Floats

TOKENIZER = "tokenizer.json"


@dataclass(frozen=True)
class Sentence:
    """One input: the text entity offsets refer to, its words and each word's offsets into it."""

    text: str
    words: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]

    @classmethod
    def of_text(cls, text: str) -> Sentence:
        split = words.split(text)
        return cls(text, tuple(w.text for w in split), tuple((w.start, w.end) for w in split))

    @classmethod
    def of_tokens(cls, tokens: Sequence[str]) -> Sentence:
        text, offsets = words.join(list(tokens))
        return cls(text, tuple(tokens), tuple(offsets))


def sentence(item: Any) -> Sentence:
    """A Sentence from what the stages hold: a Sentence, a raw text, or a list of words."""
    if isinstance(item, Sentence):
        return item
    if isinstance(item, str):
        return Sentence.of_text(item)
    return Sentence.of_tokens(item)


RUNTIME: tuple[str, ...] = ()  # the generic serving runtime is all it needs
WARM_UP: list[Any] = [Sentence.of_text("warm up")]


# --- the server's side ------------------------------------------------------------------------

SHAPE = '{"texts": ["..."]} or {"tokens": [["word", ...]]}'


def parse(body: bytes, limits: Limits) -> list[Sentence]:
    """The sentences of a request body, or a Refusal (400 for bytes that are not JSON or text that is not
    Unicode, 422 for JSON of the wrong shape), naming the field and its index."""
    payload: Any = json_body(body)
    if not isinstance(payload, dict):
        raise Refusal(422, "invalid_request", f"send an object: {SHAPE}")
    unknown = sorted(set(payload) - {"texts", "tokens"})
    if unknown:
        raise Refusal(
            422,
            "invalid_request",
            f"unknown key {unknown[0]!r}; send 'texts' (a list of strings) or 'tokens' (a list of lists of words)",
        )
    if ("texts" in payload) == ("tokens" in payload):
        raise Refusal(
            422, "invalid_request", "send exactly one of 'texts' (a list of strings) or 'tokens' (a list of lists of words)"
        )
    field = "texts" if "texts" in payload else "tokens"
    items: Any = payload[field]
    what = "a list of strings" if field == "texts" else "a list of lists of words"
    if not isinstance(items, list):
        raise Refusal(422, "invalid_request", f"{field!r} must be {what}, not {kind(items)}")
    if not items:
        raise Refusal(422, "invalid_request", f"{field!r} is empty; send at least one text")
    if len(items) > limits.max_texts:
        raise Refusal(422, "too_many_texts", f"{len(items)} texts in one request; the limit is {limits.max_texts}")
    return [_text(item, i, limits) if field == "texts" else _tokens(item, i, limits) for i, item in enumerate(items)]


def _text(item: Any, i: int, limits: Limits) -> Sentence:
    return Sentence.of_text(check_text(item, f"texts[{i}]", limits, "tag"))


def _tokens(item: Any, i: int, limits: Limits) -> Sentence:
    if not isinstance(item, list):
        raise Refusal(422, "invalid_request", f"tokens[{i}] must be a list of words (strings), not {kind(item)}")
    if not item:
        raise Refusal(422, "empty_text", f"tokens[{i}] is empty; send at least one word")
    length = len(item) - 1  # the spaces that join the words
    for j, token in enumerate(item):
        if not isinstance(token, str):
            raise Refusal(422, "invalid_request", f"tokens[{i}][{j}] must be a string, not {kind(token)}")
        length += len(token)
        if length > limits.max_text_chars:
            break
        if not token:
            raise Refusal(422, "empty_text", f"tokens[{i}][{j}] is empty; a word has at least one character")
        if any(c.isspace() for c in token):
            # Entity offsets refer to the words joined by single spaces; a word with a space would make that
            # text split otherwise, and no word in the training data has one.
            raise Refusal(422, "invalid_request", f"tokens[{i}][{j}] contains whitespace; send each word apart")
        check_encodable(token, f"tokens[{i}][{j}]")
    if length > limits.max_text_chars:
        raise Refusal(
            422,
            "text_too_long",
            f"tokens[{i}] joined by spaces has more than {limits.max_text_chars} characters, the limit",
        )
    return Sentence.of_tokens(item)


def routes(context: RouteContext) -> Sequence[Route]:
    return ()  # POST /v1/predict is all it serves


def load(folder: Path, *, threads: int = 0, context: RouteContext | None = None) -> Tagger:
    return Tagger(folder, threads=threads)


def check(model: ServedModel, rows: list[Any]) -> None:
    if len(rows) != 1 or not isinstance(rows[0], list) or any(not isinstance(e, dict) or set(e) != set(FIELDS) for e in rows[0]):
        raise RuntimeError(f"the warm-up prediction is not one list of entities: {str(rows)[:200]}")


def answer(model: ServedModel, rows: list[Any], model_sha256: str) -> bytes:
    """The response: one `{"entities": [...]}` per input, in order, and the model's sha256."""
    return json.dumps({"predictions": [{"entities": row} for row in rows], "model_sha256": model_sha256}).encode()


FIELDS = ("type", "start", "end", "text", "score")


class Tagger:
    """Sentences in, entities out. Thread-compatible: the batcher calls it from one thread."""

    def __init__(self, folder: Path, *, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self.record = model_record.read(folder / model_record.FILE)
        self.tags: tuple[str, ...] = tuple(self.record.payload["tags"])
        self.scheme: str = str(self.record.payload["scheme"])
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        # Words past max_length subwords are cut (no tag: `O`), as evaluate's predictions cut them.
        self.tokenizer.enable_truncation(max_length=self.record.max_length)
        self.tokenizer.no_padding()  # padding is done per length group (runtime.runs)
        self.session = runtime.session(folder / self.record.onnx, threads)

    def word_logits(self, inputs: Sequence[Any]) -> list[Floats]:
        """Each input's logits at its words' first subwords (words x tags; NaN for a word without one), in
        order. Sentences of similar length run together: on a CPU every padding token costs as much as a real one."""
        import numpy as np

        sentences = [sentence(x) for x in inputs]
        encodings = self.tokenizer.encode_batch([list(s.words) for s in sentences], is_pretokenized=True)
        out: list[Floats] = [np.empty((0, len(self.tags)), dtype=np.float32)] * len(sentences)
        for group, logits in runtime.runs(self.session, self.record, encodings):
            if logits.ndim != 3 or logits.shape[-1] != len(self.tags):
                raise RuntimeError(f"the model gives logits of shape {logits.shape}; model.json has {len(self.tags)} tags")
            for row, i in enumerate(group):
                firsts = decode.first_subwords(encodings[i].word_ids, len(sentences[i].words))
                out[i] = decode.gather(logits[row, : len(encodings[i].ids)], firsts)
        return out

    def predict(self, inputs: list[Any]) -> list[list[dict[str, Any]]]:
        """The served rows: each input's entities, as the response writes them."""
        return [[e.data() for e in found] for found in self.entities(inputs)]

    def entities(self, inputs: Sequence[Any], logits: Sequence[Floats] | None = None) -> list[list[Entity]]:
        """Each input's entities (from `logits`, its word logits, when given)."""
        sentences = [sentence(x) for x in inputs]
        out = []
        for s, rows in zip(sentences, self.word_logits(sentences) if logits is None else logits, strict=True):
            tags, scores = decode.word_tags(rows, self.tags)
            out.append(decode.entities(tags, scores, s.offsets, s.text, self.scheme))
        return out


# --- the client's side: requests, answers, golden examples ----------------------------------


@dataclass(frozen=True)
class Golden:
    """One golden example: a sentence's words and the entities the served model must give back."""

    tokens: tuple[str, ...]
    entities: tuple[Entity, ...]
    # Words whose top two tags nearly tie (export marks these): their tag may flip between two correct
    # runtimes, so the entities on them and beside them are not compared.
    near_ties: tuple[int, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def request(inputs: list[Any]) -> Any:
    if inputs and all(isinstance(x, str) for x in inputs):
        return {"texts": inputs}
    return {"tokens": [list(x) for x in inputs]}


def _entity(data: Any) -> Entity:
    return Entity(str(data["type"]), int(data["start"]), int(data["end"]), str(data["text"]), float(data["score"]))


def answers(body: Any) -> list[tuple[Entity, ...]]:
    """One tuple of entities per input from {"predictions": [{"entities": [{type, start, end, text, score}]}]}."""
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        raise ValueError('unrecognized /v1/predict answer (expected {"predictions": [{"entities": [...]}]})')
    return [tuple(_entity(e) for e in p["entities"]) for p in body["predictions"]]


def golden_examples(record: GoldenRecord, source: str) -> list[Golden]:
    """The examples of export/golden.json: {"tokens", "expected": {"entities": [...]}, "near_ties": [...]}."""
    from ml_ci.errors import OperationalError

    out: list[Golden] = []
    for i, row in enumerate(record.examples):
        try:
            tokens = row["tokens"]
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise TypeError("tokens is not a list of strings")
            found = tuple(_entity(e) for e in row["expected"]["entities"])
            out.append(Golden(tuple(tokens), found, tuple(int(w) for w in row.get("near_ties", ()))))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise OperationalError(f"{source}: golden example {i} is malformed ({e!r})") from None
    return out


def golden_inputs(examples: Sequence[Golden]) -> list[Any]:
    return [list(g.tokens) for g in examples]


Key = tuple[str, int, int]


def _compared(found: Sequence[Entity], offsets: Sequence[tuple[int, int]], near_ties: Sequence[int]) -> dict[Key, Entity]:
    """The entities by (type, start, end), less those a near tie can change."""
    return {(e.type, e.start, e.end): e for e in found if not decode.touching((e.start, e.end), offsets, near_ties)}


def _named(e: Entity) -> str:
    return f"{e.type} {e.text!r} at {e.start}-{e.end}"


def mismatches(examples: Sequence[Golden], answers: Sequence[Sequence[Entity]], tolerance: float, *, caller: Caller) -> list[str]:
    """Where the answers differ from the golden ones: the same entities (type, start and end), each score
    within `tolerance`, leaving out those a near tie can change. Empty when they agree.

    One comparison in two wordings, as the classifier's: the build's image check (`build`: the worst score
    difference) and deploy's smoke test (`smoke`: the first score off); one message per example."""
    smoke = caller == "smoke"
    recorded = "recorded" if smoke else "expected"
    problems: list[str] = []
    if len(answers) != len(examples):
        problems.append(
            f"sent {len(examples)} texts, got {len(answers)} predictions"
            if smoke
            else f"{len(answers)} answers for {len(examples)} golden examples"
        )
    for i, (g, got) in enumerate(zip(examples, answers, strict=False)):
        text = g.text
        shown = (text if len(text) <= 40 else text[:37] + "...") if smoke else text[:60]
        offsets = words.join(list(g.tokens))[1]
        want, have = _compared(g.entities, offsets, g.near_ties), _compared(got, offsets, g.near_ties)
        missing = [want[k] for k in want if k not in have]
        extra = [have[k] for k in have if k not in want]
        if missing or extra:
            first = (
                f"no {_named(missing[0])}, {recorded} with score {missing[0].score:.4f}"
                if missing
                else f"{_named(extra[0])} (score {extra[0].score:.4f}), not {recorded}"
            )
            more = len(missing) + len(extra) - 1
            problems.append(f"example {i} ({shown!r}): {first}" + (f" (and {more} more differences)" if more else ""))
            continue
        off = [(have[k], want[k]) for k in want if not abs(have[k].score - want[k].score) <= tolerance]
        if not off:
            continue
        if smoke:
            a, w = off[0]
            problems.append(
                f"example {i} ({shown!r}): score of {_named(w)} {a.score:.4f}, recorded {w.score:.4f} (tolerance {tolerance})"
            )
        else:
            worst = max(abs(a.score - w.score) for a, w in off)
            problems.append(f"example {i} ({shown!r}): entity scores differ by {worst:.2e} (tolerance {tolerance})")
    return problems


def eval_mismatches(record: GoldenRecord, answers: Sequence[Sequence[Entity]], eval_record: Any) -> tuple[list[str], int]:
    """Compare answers with `ml-ci evaluate`'s predictions for the same sentences (PyTorch on the test split:
    word tags, decoded here as the server decodes them): the same entities by type, start and end, leaving
    out those a near tie can change (evaluate records tags, not scores). Returns the problems and how many
    were compared (0 without a record of the same tags and scheme)."""
    rows = eval_record.get("predictions") if isinstance(eval_record, dict) else None
    tags, scheme = record.payload.get("tags"), record.payload.get("scheme", "IOB2")
    if not isinstance(rows, list) or eval_record.get("tags", tags) != tags or eval_record.get("scheme", scheme) != scheme:
        return [], 0
    by_hash = {r.get("text_sha256"): r for r in rows if isinstance(r, dict)}
    problems, compared = [], 0
    for example, found in zip(golden_examples(record, "golden.json"), answers, strict=True):
        row = by_hash.get(text_hash(example.text))
        predicted = row.get("predicted") if row is not None else None
        if not isinstance(predicted, list) or len(predicted) != len(example.tokens):
            continue
        compared += 1
        text, offsets = words.join(list(example.tokens))
        evaluated = decode.entities([str(t) for t in predicted], [1.0] * len(predicted), offsets, text, str(scheme))
        want = _compared(evaluated, offsets, example.near_ties)
        have = _compared(found, offsets, example.near_ties)
        if set(want) != set(have):
            shown = ", ".join(_named(want[k]) for k in want) or "none"
            served = ", ".join(_named(have[k]) for k in have) or "none"
            problems.append(f"{text[:60]!r}: entities {served}, evaluated {shown}")
    return problems, compared
