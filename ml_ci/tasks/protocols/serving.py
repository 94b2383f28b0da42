"""What the stages need from a task's serving half: torch-free, as the serving image runs it.

ml_ci.serve keeps what every task shares: the HTTP server, its limits, the micro-batcher, metrics,
probes and the drain. ml_ci.serving_client keeps readiness, batching and HTTP for the build's image
check and deploy's smoke test. The task says what a request holds, runs the exported model, shapes the
answer, and compares answers with its golden examples (and with evaluate's predictions).

The half imports only the standard library, numpy, tokenizers, onnxruntime and ml_ci's serve,
records and tasks packages at module level: the image copies those and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from ml_ci.records.golden import GoldenRecord
    from ml_ci.records.model import ModelRecord
    from ml_ci.serve.limits import Limits
    from ml_ci.serve.routes import Route, RouteContext

# Who compares answers with golden examples; each keeps the wording its messages always had.
Caller = Literal["build", "smoke"]


class ServedModel(Protocol):
    """The exported model loaded for serving (a task's runtime: tokenizers + onnxruntime, no torch)."""

    @property
    def record(self) -> ModelRecord:
        """model.json of the exported folder."""
        ...

    def predict(self, inputs: list[Any]) -> Any:
        """One row per input, in order (a numpy array or lists): what the micro-batcher batches and
        `answer` turns into a response. Thread-compatible: called from one thread."""
        ...


class ServingHalf(Protocol):
    """A task's serving half: a module of the task's package that provides these names."""

    WARM_UP: list[Any]  # the inputs of the server's first prediction, before it says ready
    # Distributions the image installs for this task beyond the generic runtime (ml_ci.build.plan.RUNTIME).
    RUNTIME: tuple[str, ...]

    def parse(self, body: bytes, limits: Limits) -> list[Any]:
        """The inputs of a POST /v1/predict body, or ml_ci.serve.protocol.Refusal (400 for bytes that
        are not JSON, 422 for JSON of the wrong shape) saying what to change."""
        ...

    def routes(self, context: RouteContext) -> Sequence[Route]:
        """The task's own HTTP routes beside POST /v1/predict (ml_ci/serve/routes.py); () for none. Called once, when
        the server starts, before the model loads."""
        ...

    def load(self, folder: Path, *, threads: int = 0, context: RouteContext | None = None) -> ServedModel:
        """The exported folder (`ml-ci export`'s) ready to predict; `threads` for the runtime (0: its own choice).
        The server passes its `context` (the limits, the metrics registry) for a model that needs them (one that
        generates: how many sequences at once); None elsewhere (export's checks, the image check)."""
        ...

    def check(self, model: ServedModel, rows: list[Any]) -> None:
        """RuntimeError when the rows of WARM_UP are not what the model should give (the server then exits 1)."""
        ...

    def answer(self, model: ServedModel, rows: list[Any], model_sha256: str) -> bytes:
        """The 200 response body for the rows of one request's inputs, in order."""
        ...

    def request(self, inputs: list[Any]) -> Any:
        """The JSON a client POSTs to /v1/predict for these inputs (the shape `parse` reads)."""
        ...

    def answers(self, body: Any) -> list[Any]:
        """One answer per input from a parsed 200 body; ValueError, KeyError or TypeError when it has
        another shape."""
        ...

    def golden_examples(self, record: GoldenRecord, source: str) -> Sequence[Any]:
        """The record's examples, read; OperationalError naming `source` and the example when one is malformed."""
        ...

    def golden_inputs(self, examples: Sequence[Any]) -> list[Any]:
        """What to send for each example, in order."""
        ...

    def mismatches(self, examples: Sequence[Any], answers: Sequence[Any], tolerance: float, *, caller: Caller) -> list[str]:
        """Where the answers differ from the examples' recorded ones, one message each (in `caller`'s
        words); empty when they agree within `tolerance`."""
        ...

    def eval_mismatches(self, golden: GoldenRecord, answers: Sequence[Any], eval_record: Any) -> tuple[list[str], int]:
        """Where the answers to the golden inputs differ from `ml-ci evaluate`'s own predictions for the same
        inputs (eval.json, as parsed), within the golden tolerance; and how many could be compared (0 without
        a record that matches)."""
        ...
