"""Start the built image and check it as TFX's InfraValidator does: it must become ready and answer
the golden examples as the exported model did. Nothing is pushed otherwise."""

from __future__ import annotations

import hashlib
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from ml_ci.export.golden import mismatches


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_json(url: str, payload: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return int(e.code), json.loads(body or b"null")
        except ValueError:
            return int(e.code), body.decode(errors="replace")


def wait_ready(base_url: str, timeout: float, alive: Callable[[], bool]) -> float:
    """Seconds until /readyz answered 200; raises TimeoutError, or RuntimeError when the server died."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not alive():
            raise RuntimeError("the server exited before it became ready")
        try:
            status, _ = http_json(f"{base_url}/readyz", timeout=2)
            if status == 200:
                return time.monotonic() - start
        except (OSError, ValueError):
            pass  # not listening yet
        time.sleep(0.1)
    raise TimeoutError(f"not ready after {timeout:.0f} s")


def predict_all(base_url: str, texts: list[str], max_texts: int) -> list[dict[str, Any]]:
    """Predictions for texts, sent in requests of at most max_texts."""
    answers: list[dict[str, Any]] = []
    for i in range(0, len(texts), max_texts):
        status, body = http_json(f"{base_url}/v1/predict", {"texts": texts[i : i + max_texts]})
        if status != 200:
            raise RuntimeError(f"POST /v1/predict answered {status}: {body}")
        answers.extend(body["predictions"])
    return answers


def text_hash(text: str) -> str:
    """As `ml-ci evaluate` keys its per-example predictions (16 hex digits of sha256)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def eval_mismatches(golden: dict[str, Any], answers: list[dict[str, Any]], eval_record: Any) -> tuple[list[str], int]:
    """Compare answers with `ml-ci evaluate`'s predictions for the same texts (PyTorch on the test split):
    labels equal, probabilities within the golden tolerance. Returns the problems and how many were compared."""
    rows = eval_record.get("predictions") if isinstance(eval_record, dict) else None
    labels = golden["labels"]
    if not isinstance(rows, list) or eval_record.get("labels", labels) != labels:
        return [], 0
    by_hash = {r.get("text_sha256"): r for r in rows if isinstance(r, dict)}
    tolerance = float(golden["tolerance"])
    problems, compared = [], 0
    for example, answer in zip(golden["examples"], answers, strict=True):
        row = by_hash.get(text_hash(example["text"]))
        if row is None:
            continue
        compared += 1
        if answer.get("label") != row.get("predicted") and not example.get("near_tie"):
            problems.append(f"{example['text'][:60]!r}: label {answer.get('label')!r}, evaluated {row.get('predicted')!r}")
            continue
        got = [float(answer["probabilities"][label]) for label in labels]
        evaluated = row.get("probabilities") or []
        if len(evaluated) != len(got):
            problems.append(f"{example['text'][:60]!r}: evaluate recorded {len(evaluated)} probabilities for {len(got)} labels")
            continue
        worst = max(abs(a - float(b)) for a, b in zip(got, evaluated, strict=True))
        if not worst <= tolerance:
            problems.append(f"{example['text'][:60]!r}: probabilities differ from the evaluated ones by {worst:.2e}")
    return problems, compared


def check_server(base_url: str, golden: dict[str, Any], max_texts: int, eval_record: Any = None) -> tuple[list[str], int]:
    """Every golden mismatch (and evaluated-prediction mismatch) of a ready server; empty when it agrees."""
    texts = [e["text"] for e in golden["examples"]]
    answers = predict_all(base_url, texts, max_texts)
    problems = mismatches(golden, answers)
    more, compared = eval_mismatches(golden, answers, eval_record)
    return problems + more, compared
