"""The smoke test after a deploy: /readyz, then /v1/predict on golden examples, compared with
the predictions recorded at export time. `compare` and `parse_predictions` are pure."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from ml_ci.deploy.records import Golden, GoldenSet

# Used when golden.json records no tolerance of its own: labels must agree exactly, probabilities
# to within numerical noise.
PROB_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]


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


def parse_predictions(body: Any) -> list[Prediction]:
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


def compare(golden: Sequence[Golden], got: Sequence[Prediction], tolerance: float = PROB_TOLERANCE) -> SmokeReport:
    problems: list[str] = []
    if len(got) != len(golden):
        problems.append(f"sent {len(golden)} texts, got {len(got)} predictions")
    for i, (g, p) in enumerate(zip(golden, got, strict=False)):
        text = g.text if len(g.text) <= 40 else g.text[:37] + "..."
        if p.label != g.label and not g.near_tie:
            problems.append(f"example {i} ({text!r}): label {p.label!r}, recorded {g.label!r}")
            continue
        for name, expected in g.probabilities.items():
            actual = p.probabilities.get(name)
            if actual is None:
                problems.append(f"example {i}: no probability for {name!r}")
                break
            if abs(actual - expected) > tolerance:
                problems.append(
                    f"example {i} ({text!r}): p({name})={actual:.4f}, recorded {expected:.4f} (tolerance {tolerance})"
                )
                break
    return SmokeReport(not problems, len(golden), tuple(problems))


def _http(url: str, data: Optional[bytes] = None, timeout: float = 10) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(
    base: str, timeout: float, *, sleep: Callable[[float], None] = time.sleep, alive: Callable[[], bool] = lambda: True
) -> Optional[str]:
    """Poll /readyz until 200; None when ready, else why not (timeout, or `alive()` turned false)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            return f"the server stopped before it was ready (last: {last})"
        try:
            status, _ = _http(f"{base}/readyz", timeout=5)
            if status == 200:
                return None
            last = f"HTTP {status}"
        except (urllib.error.URLError, OSError) as e:
            last = str(getattr(e, "reason", e))
        sleep(0.5)
    return f"/readyz at {base} was not ready within {timeout:.0f} s (last: {last})"


def _predict(base: str, texts: list[str], timeout: float) -> tuple[Optional[Any], Optional[str]]:
    """The parsed JSON answer of /v1/predict, or why there is none."""
    body = json.dumps({"texts": texts}).encode()
    try:
        status, raw = _http(f"{base}/v1/predict", body, timeout=timeout)
    except (urllib.error.URLError, OSError) as e:
        return None, f"/v1/predict did not answer ({getattr(e, 'reason', e)})"
    if status != 200:
        return None, f"/v1/predict answered HTTP {status}: {raw[:200].decode('utf-8', 'replace')}"
    try:
        return json.loads(raw), None
    except ValueError as e:
        return None, f"/v1/predict: not JSON ({e})"


def run(
    base: str,
    golden_set: GoldenSet,
    count: int,
    timeout: float,
    *,
    batch: int = 64,
    model_sha256: Optional[str] = None,
    alive: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> SmokeReport:
    """/readyz, then the first `count` golden texts through /v1/predict, `batch` texts per request
    (the server's serve.max_texts).

    With `model_sha256`, answers from another model (a rollout that has not reached the environment
    yet, as after a GitOps commit) are waited out until `timeout`, then fail the test.
    """
    base = base.rstrip("/")
    deadline = time.monotonic() + timeout
    golden = golden_set.examples[:count]
    not_ready = wait_ready(base, timeout, alive=alive)
    if not_ready:
        return SmokeReport(False, 0, (not_ready,))
    got: list[Prediction] = []
    for start in range(0, len(golden), batch):
        texts = [g.text for g in golden[start : start + batch]]
        while True:
            answer, problem = _predict(base, texts, max(10.0, timeout / 4))
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
            got.extend(parse_predictions(answer))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return SmokeReport(False, 0, (f"/v1/predict: {e}",))
    return compare(golden, got, golden_set.tolerance or PROB_TOLERANCE)
