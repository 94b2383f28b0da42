"""The smoke test after a deploy: /readyz, then /v1/predict on golden examples, compared with
the answers recorded at export time. The serving client asks; the task's serving half compares."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from ml_ci.records.golden import GoldenRecord
from ml_ci.serving_client import NotReady, batches, post_predict, wait_ready

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.serving import ServingHalf


@dataclass(frozen=True)
class SmokeReport:
    passed: bool
    checked: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        if self.passed:
            return f"smoke test passed: /readyz ready, {self.checked} golden examples match"
        shown = "; ".join(self.problems[:5]) + (f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else "")
        return f"smoke test failed: {shown}"


def run(
    base: str,
    golden_set: GoldenRecord,
    count: int,
    timeout: float,
    *,
    serving: ServingHalf,
    batch: int = 64,
    model_sha256: Optional[str] = None,
    alive: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> SmokeReport:
    """/readyz, then the first `count` golden examples through /v1/predict, `batch` per request (the
    server's serve.max_texts), compared by the task's `serving` half; OperationalError when golden.json
    has a malformed example.

    With `model_sha256`, answers from another model (a rollout that has not reached the environment
    yet, as after a GitOps commit) are waited out until `timeout`, then fail the test.
    """
    base = base.rstrip("/")
    deadline = time.monotonic() + timeout
    golden = serving.golden_examples(golden_set, "golden.json")[:count]
    try:
        wait_ready(base, timeout, alive=alive)
    except NotReady as e:
        return SmokeReport(False, 0, (str(e),))
    got: list[object] = []
    for inputs in batches(serving.golden_inputs(golden), batch):
        while True:
            answer, problem = post_predict(base, serving.request(inputs), max(10.0, timeout / 4))
            if problem:
                return SmokeReport(False, 0, (problem,))
            served = answer.get("model_sha256") if isinstance(answer, dict) else None
            if not model_sha256 or not served or served == model_sha256:
                break
            if time.monotonic() >= deadline:
                return SmokeReport(
                    False,
                    0,
                    (
                        f"{base} still serves model {served[:12]}, not {model_sha256[:12]}, after "
                        f"{timeout:.0f} s (the rollout did not reach it)",
                    ),
                )
            sleep(1.0)
        try:
            got.extend(serving.answers(answer))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return SmokeReport(False, 0, (f"/v1/predict: {e}",))
    problems = serving.mismatches(golden, got, golden_set.allowed, caller="smoke")
    return SmokeReport(not problems, len(golden), tuple(problems))
