"""The evaluation record, eval.json: what `ml-ci evaluate` writes and what baselines are read from.

It travels with the model (image labels, and beside each environment's overlay in the GitOps
repository), so it is self-describing: model name, task, label set, the split's fingerprint, the
metrics, the gate results and verdict, and the per-example predictions keyed by a hash of the text,
which lets a later evaluation pair its examples with these for a significance test.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml_ci.errors import OperationalError
from ml_ci.evaluate.metrics import FloatArray, IntArray

KIND = "ml-ci/eval"
# 2: latency is the exported model's through the serving runtime, and `latency.method` says how it was
# measured; `model.lineage` says whether the model's training data is ml.yaml's. Every key of format 1
# is kept with its meaning, so readers of format 1 read format 2; format 1 records are read as before
# (a relative latency gate against one compares with a PyTorch timing: the gate's row says the baseline).
FORMAT = 2
HISTORY_LIMIT = 50  # evaluations kept in a record's metric history
PREDICTIONS = "predictions"
TAIL = "[]\n}"  # how an indented record whose last key holds an empty list ends


def text_hash(text: str) -> str:
    """16 hex digits of sha256: enough to match examples across runs without storing the text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Predictions:
    """Per-example results on the evaluated split, in the split's order."""

    hashes: tuple[str, ...]
    y_true: IntArray
    probs: FloatArray  # one column per label, in data.labels order

    def to_json(self, labels: Sequence[str]) -> list[dict[str, Any]]:
        predicted = self.probs.argmax(axis=1)
        return [
            {
                "index": i,
                "text_sha256": h,
                "label": labels[int(t)],
                "predicted": labels[int(p)],
                "probabilities": [round(float(x), 6) for x in row],
            }
            for i, (h, t, p, row) in enumerate(zip(self.hashes, self.y_true, predicted, self.probs, strict=True))
        ]

    @classmethod
    def from_json(cls, rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> Predictions:
        index = {label: i for i, label in enumerate(labels)}
        return cls(
            tuple(str(r["text_sha256"]) for r in rows),
            np.asarray([index[r["label"]] for r in rows], dtype=np.int64),
            np.asarray([r["probabilities"] for r in rows], dtype=np.float64).reshape(len(rows), len(labels)),
        )


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (json would write the invalid token NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(data: Mapping[str, Any]) -> str:
    """The record as indented JSON, but each of its per-example rows (`predictions`) on one compact line.

    json's indenting encoder is pure Python: for 10,000 predictions it took seconds, most of
    evaluate's writing. Compact rows go through the C encoder; the file stays one row per line."""
    head = clean({k: v for k, v in data.items() if k != PREDICTIONS})
    rows = data.get(PREDICTIONS)
    if not isinstance(rows, list) or not rows:
        return json.dumps(clean(dict(data)), indent=1, allow_nan=False) + "\n"
    body = ",\n  ".join(_compact(row) for row in rows)
    # predictions is the last key: its empty list, at the end of the text, is replaced by the rows.
    text = json.dumps({**head, PREDICTIONS: []}, indent=1, allow_nan=False)
    return f"{text.removesuffix(TAIL)}[\n  {body}\n ]\n}}\n"


def _compact(row: Any) -> str:
    try:
        return json.dumps(row, allow_nan=False, separators=(", ", ": "))
    except ValueError:  # a NaN or an infinity: null, as `clean` writes it (rare: probabilities are checked finite)
        return json.dumps(clean(row), allow_nan=False, separators=(", ", ": "))


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dumps(data))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the record is shipped and read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from a file, or an OperationalError that says which file and why."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OperationalError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise OperationalError(f"{what} {path} is a folder, not a file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(f"{what} {path} cannot be read: {e}") from None
    except json.JSONDecodeError as e:
        raise OperationalError(f"{what} {path} is not valid JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(data, dict):
        raise OperationalError(f"{what} {path} is not a JSON object")
    return data


def read_record(path: Path, what: str = "evaluation record") -> dict[str, Any]:
    data = read_json(path, what)
    if data.get("kind") != KIND or not isinstance(data.get("metrics"), dict) or not isinstance(data.get("labels"), list):
        raise OperationalError(f"{what} {path} is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)")
    if int(data.get("format", 0)) > FORMAT:
        raise OperationalError(
            f"{what} {path} has format {data['format']}, newer than this ml-ci reads ({FORMAT}): pip install -U ml-ci"
        )
    return data


def history_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    git = record.get("git") or {}
    return {
        "created": record.get("created"),
        "git_sha": git.get("sha"),
        "ref": git.get("ref"),
        "metrics": record.get("metrics", {}),
    }


def history(baseline: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The metric history this evaluation continues: the baseline's own history, then the baseline."""
    if baseline is None:
        return []
    past = [h for h in baseline.get("history", []) if isinstance(h, dict)]
    return [*past, history_entry(baseline)][-HISTORY_LIMIT:]
