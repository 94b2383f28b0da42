"""The evaluation record, eval.json: what `ml-ci evaluate` writes and what baselines, `ml-ci report`,
export, build and deploy read.

It travels with the model (image labels, and beside each environment's overlay in the GitOps
repository), so it is self-describing: model name, task, the split's fingerprint, the metrics, the
gate results and verdict, and the per-example predictions keyed by a hash of the text, which lets a
later evaluation pair its examples with these for a significance test.

What the task adds is opaque here: `task_head` (the keys written right after `task`: for
text-classification its `labels`), `task_scores` (after `undefined`: its `per_class` and
`confusion_matrix`) and each prediction row past `index` and `text_sha256`. Only the task reads them.

The version is the file's `format` key (`VERSION`): 2 since latency is the exported model's through
the serving runtime (`latency.method` says how it was measured) and `model.lineage` says whether the
model's training data is ml.yaml's. Every key of format 1 is kept with its meaning, so format 1
records are read as before (a relative latency gate against one compares with a PyTorch timing: the
gate's row says the baseline). A record of a newer format is refused, naming the upgrade.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from ml_ci.atomic import write_text
from ml_ci.errors import OperationalError
from ml_ci.jsonfile import read_object
from ml_ci.records.texts import text_hash as text_hash  # where the stages and tests have always found it

KIND = "ml-ci/eval"
VERSION = 2  # written as the record's `format` key
HISTORY_LIMIT = 50  # evaluations kept in a record's metric history
PREDICTIONS = "predictions"
TAIL = "[]\n}"  # how an indented record whose last key holds an empty list ends
# Measured, not computed: two evaluations of the same model differ in them. They stay in eval.json (which
# travels beside the image in the GitOps record) and out of model.json, the image's labels and the cache key.
MEASURED_METRICS = frozenset({"latency_p50_ms", "latency_p95_ms"})

# The generic keys, in the order the file holds them; the task's keys go after `task` (task_head)
# and after `undefined` (task_scores).
HEAD = ("kind", "format", "name", "task")
BODY = (
    "split",
    "data_fingerprint",
    "examples",
    "created",
    "git",
    "model",
    "metrics",
    "reported_metrics",
    "undefined",
)
TAIL_KEYS = ("latency", "slices", "gates", "verdict", "baselines", "history", PREDICTIONS)
GENERIC = frozenset(HEAD + BODY + TAIL_KEYS)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _optional(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _rows(value: Any) -> tuple[dict[str, Any], ...]:
    return tuple(dict(v) for v in value if isinstance(v, Mapping)) if isinstance(value, list) else ()


Status = Literal["pass", "fail", "no-baseline", "noise"]


@dataclass(frozen=True)
class GateResult:
    scope: str  # "overall" or a slice name
    metric: str
    condition: str  # "min", "max" or "drop"
    threshold: float
    value: float | None
    status: Status
    passed: bool
    message: str
    against: str | None = None
    baseline: float | None = None
    delta: float | None = None  # value - baseline
    p_value: float | None = None
    test: str | None = None
    paired_examples: int | None = None

    @property
    def name(self) -> str:
        where = "" if self.scope == "overall" else f"[{self.scope}] "
        if self.condition == "min":
            return f"{where}{self.metric} >= {self.threshold:g}"
        if self.condition == "max":
            return f"{where}{self.metric} <= {self.threshold:g}"
        return f"{where}{self.metric} vs {self.against} (max drop {self.threshold:g})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> GateResult:
        """A row as `to_json` wrote it (its `name` is made again from the fields); TypeError when one is missing."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


@dataclass(frozen=True)
class SliceRecord:
    """A slice's row of eval.json: how it was selected, its metrics, and its gates when gated."""

    name: str
    selection: str
    rows: int
    min_rows: int
    gated: bool
    metrics: dict[str, float | None] = field(default_factory=dict)
    gates: tuple[GateResult, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "gates": [g.to_json() for g in self.gates]}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> SliceRecord:
        """TypeError or KeyError when a key is missing."""
        return cls(
            name=row["name"],
            selection=row["selection"],
            rows=row["rows"],
            min_rows=row["min_rows"],
            gated=row["gated"],
            metrics=dict(row.get("metrics") or {}),
            gates=tuple(GateResult.from_json(g) for g in row.get("gates") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class EvalRecord:
    """eval.json. Gates and slices are typed. `git`, `model`, `latency`, `baselines` and `history` stay the
    JSON objects the file holds: a later evaluation copies a baseline's `git`, `model` and `history` into
    its own record verbatim, so reading them into dataclasses would rewrite an older record's rows (a
    format 1 `model` has no `lineage`). `predictions` are the task's rows. A record read from a
    hand-made or older file gets empty defaults for the top-level keys it lacks."""

    name: str | None
    task: str | None
    metrics: dict[str, float | None]
    format: int = VERSION
    task_head: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    data_fingerprint: str | None = None
    examples: int | None = None
    created: str | None = None
    git: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    reported_metrics: tuple[str, ...] = ()
    undefined: dict[str, str] = field(default_factory=dict)
    task_scores: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    slices: tuple[SliceRecord, ...] = ()
    gates: tuple[GateResult, ...] = ()  # the overall ones (a slice's are in its row)
    verdict: str | None = None
    baselines: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] = ()
    predictions: tuple[dict[str, Any], ...] = ()

    @property
    def all_gates(self) -> list[GateResult]:
        """The gate results, overall then per slice: the order `assemble` judged them in."""
        return [*self.gates, *(g for s in self.slices for g in s.gates)]

    @property
    def hashes(self) -> list[str]:
        """The text hash of each prediction row (KeyError or TypeError on a malformed row)."""
        return [str(r["text_sha256"]) for r in self.predictions]

    def to_json(self) -> dict[str, Any]:
        """The record as eval.json holds it, keys in the file's order."""
        return {
            "kind": KIND,
            "format": self.format,
            "name": self.name,
            "task": self.task,
            **self.task_head,
            "split": self.split,
            "data_fingerprint": self.data_fingerprint,
            "examples": self.examples,
            "created": self.created,
            "git": self.git,
            "model": self.model,
            "metrics": self.metrics,
            "reported_metrics": list(self.reported_metrics),
            "undefined": self.undefined,
            **self.task_scores,
            "latency": self.latency,
            "slices": [s.to_json() for s in self.slices],
            "gates": [g.to_json() for g in self.gates],
            "verdict": self.verdict,
            "baselines": self.baselines,
            "history": list(self.history),
            PREDICTIONS: list(self.predictions),
        }

    def summary(self) -> dict[str, Any]:
        """Everything but the per-example rows (what `ml-ci evaluate --format json` prints)."""
        return {k: v for k, v in self.to_json().items() if k != PREDICTIONS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], head: Sequence[str] = ()) -> EvalRecord:
        """From a parsed eval.json; a key this module does not know belongs to the task: to task_head
        when it comes before any key after `task` or is one of `head` (wherever a hand-made file put
        it), else to task_scores."""
        task_head: dict[str, Any] = {}
        scores: dict[str, Any] = {}
        past_head = False
        for key, value in data.items():
            if key in GENERIC:
                past_head = past_head or key not in HEAD
            else:
                (scores if past_head and key not in head else task_head)[key] = value
        baselines = {str(k): (dict(v) if isinstance(v, Mapping) else None) for k, v in _mapping(data.get("baselines")).items()}
        return cls(
            format=int(data.get("format", 0)),
            name=data.get("name"),
            task=data.get("task"),
            task_head=task_head,
            split=data.get("split"),
            data_fingerprint=data.get("data_fingerprint"),
            examples=data.get("examples"),
            created=data.get("created"),
            git=_optional(data.get("git")),
            model=_optional(data.get("model")),
            metrics=_mapping(data.get("metrics")),
            reported_metrics=tuple(data.get("reported_metrics") or ()),
            undefined=_mapping(data.get("undefined")),
            task_scores=scores,
            latency=_mapping(data.get("latency")),
            slices=tuple(SliceRecord.from_json(s) for s in data.get("slices") or ()),
            gates=tuple(GateResult.from_json(g) for g in data.get("gates") or ()),
            verdict=data.get("verdict"),
            baselines=baselines,
            history=_rows(data.get("history")),
            # As written: a malformed row is the pairing's to refuse (it pairs nothing then).
            predictions=tuple(data[PREDICTIONS]) if isinstance(data.get(PREDICTIONS), list) else (),
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


def write(path: Path, record: EvalRecord) -> None:
    """eval.json, atomically (readers never see half a file), readable by all (it is shipped)."""
    write_text(path, dumps(record.to_json()))


def read(path: Path, what: str = "evaluation record", *, head: Sequence[str] = ()) -> EvalRecord:
    """eval.json, checked: an OperationalError names the file and what is wrong with it. `head`: the
    list-valued keys the reader's task puts after `task` (its `RECORD_HEAD`), which must be there."""
    data = read_object(path, what)
    if (
        data.get("kind") != KIND
        or not isinstance(data.get("metrics"), dict)
        or not all(isinstance(data.get(k), list) for k in head)
    ):
        raise OperationalError(f"{what} {path} is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)")
    if int(data.get("format", 0)) > VERSION:
        raise OperationalError(
            f"{what} {path} has format {data['format']}, newer than this ml-ci reads ({VERSION}): pip install -U ml-ci"
        )
    try:
        return EvalRecord.from_json(data, head)
    except (KeyError, TypeError, ValueError, AttributeError):  # a gate or slice row that is not one
        raise OperationalError(
            f"{what} {path} is not an ml-ci evaluation record (eval.json written by `ml-ci evaluate`)"
        ) from None


def _timed(task: Any) -> frozenset[str]:
    """The metrics of the record's task that are timings; the generic ones for a task this ml-ci does not know."""
    from ml_ci import tasks
    from ml_ci.config import by_task

    return by_task.timed(task) if isinstance(task, str) and task in tasks.names() else MEASURED_METRICS


def headline(record: Any) -> dict[str, Any]:
    """The headline numbers of evaluate/eval.json (its `metrics` and `verdict`), when present; not the measured ones.
    `record` is eval.json as parsed (None when absent): export and build record these in model.json and the
    image's labels, and take an older or hand-made file as they always have."""
    if not isinstance(record, dict):
        return {}
    summary: dict[str, Any] = {}
    measured = _timed(record.get("task"))
    metrics = record.get("metrics")
    if isinstance(metrics, dict):
        summary.update(
            {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in measured}
        )
    if isinstance(record.get("verdict"), str):
        summary["verdict"] = record["verdict"]
    return summary


def verdict_of(data: Any) -> str:
    """The gate verdict of an evaluation record as parsed ("pass" or "fail"); "unknown" when absent. Deploy
    ships eval.json verbatim, whatever its shape, and needs only this: a hand-made record's `verdict`
    ({"status": ...} too) or `passed` counts as well."""
    if isinstance(data, dict):
        verdict = data.get("verdict")
        if isinstance(verdict, str):
            return verdict.lower()
        if isinstance(verdict, dict) and isinstance(verdict.get("status"), str):
            return str(verdict["status"]).lower()
        if isinstance(data.get("passed"), bool):
            return "pass" if data["passed"] else "fail"
    return "unknown"


def without_predictions(data: Any) -> Any:
    """An evaluation record as parsed, less its per-example predictions (what a size-bound copy keeps)."""
    return {k: v for k, v in data.items() if k != PREDICTIONS} if isinstance(data, dict) else data


def history_entry(record: EvalRecord) -> dict[str, Any]:
    git = record.git or {}
    return {
        "created": record.created,
        "git_sha": git.get("sha"),
        "ref": git.get("ref"),
        "metrics": record.metrics,
    }


def history(baseline: EvalRecord | None) -> list[dict[str, Any]]:
    """The metric history this evaluation continues: the baseline's own history, then the baseline."""
    if baseline is None:
        return []
    return [*baseline.history, history_entry(baseline)][-HISTORY_LIMIT:]
