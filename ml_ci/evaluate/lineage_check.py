"""Whether the model was trained on the data ml.yaml names now: its lineage against today's fingerprints.

`ml-ci train` writes lineage.json beside the model folder, with a fingerprint per split it read.
When the training data changed since (rows relabelled, a file replaced), evaluating that model
measures a model of other data, and a passing verdict would vouch for a model nobody asked for.
`compare` is pure; `read_lineage` is the one file read. The roles compared are the ones training
reads (train, validation): a changed test split changes what the model is measured on, not the
model, so evaluating on it is what one wants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ml_ci.errors import OperationalError
from ml_ci.jsonfile import JsonFileError, load_json
from ml_ci.pipeline import layout

LINEAGE = layout.LINEAGE.name  # beside the model folder, whether train's or one given with --model
TRAINED_ON = ("train", "validation")


class StaleModelError(OperationalError):
    """Exit 1, as for a missing model: what is wrong is the artifact evaluate was given (a model of
    other data), not the data (3: it may be fine), the config (2) or the model's quality (4). The fix
    is an operation: train again, or say that the old model is meant (--allow-stale-model)."""


@dataclass(frozen=True)
class Change:
    role: str
    trained_on: str | None  # the fingerprint lineage.json names; None: training had no such split
    now: str | None  # the fingerprint of ml.yaml's split today; None: ml.yaml has none
    source: str  # where the split is read from (lineage's source, or the role)

    def __str__(self) -> str:
        return f"{self.role} ({self.source}): trained on {_short(self.trained_on)}, now {_short(self.now)}"


@dataclass(frozen=True)
class Freshness:
    """`matches`: every split training read is unchanged; `stale`: one changed; `unknown`: no lineage
    to compare (a model from elsewhere, e.g. --model DIR without a lineage.json beside it)."""

    status: Literal["matches", "stale", "unknown"]
    changes: tuple[Change, ...] = ()
    lineage: str | None = None  # the lineage.json compared, as shown to the user

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "lineage": self.lineage,
            "changed": [{"role": c.role, "trained_on": c.trained_on, "now": c.now} for c in self.changes],
        }


def _short(fingerprint: str | None) -> str:
    if fingerprint is None:
        return "no such split"
    return fingerprint[:19] + "..." if fingerprint.startswith("sha256:") and len(fingerprint) > 22 else fingerprint


def compare(lineage: Mapping[str, Any] | None, current: Mapping[str, str], *, shown: str | None = None) -> Freshness:
    """lineage: lineage.json's content (None when absent); current: role -> fingerprint of ml.yaml's splits."""
    data = lineage.get("data") if lineage is not None else None
    if not isinstance(data, dict):
        return Freshness("unknown", (), shown)
    changes = []
    for role in TRAINED_ON:
        entry = data.get(role)
        trained_on = entry.get("fingerprint") if isinstance(entry, dict) else None
        now = current.get(role)
        if trained_on != now:
            source = entry.get("source") if isinstance(entry, dict) and entry.get("source") else role
            changes.append(Change(role, trained_on, now, str(source)))
    return Freshness("stale" if changes else "matches", tuple(changes), shown)


def read_lineage(path: Path) -> dict[str, Any] | None:
    """lineage.json's content; None when there is none. An unreadable one is an error, not 'unknown':
    it would let any model through."""
    try:
        data = load_json(path)
    except JsonFileError as e:
        if e.reason == "missing":
            return None
        raise OperationalError(f"the model's lineage {path} cannot be read ({e.detail}): run `ml-ci train` again") from None
    if not isinstance(data, dict):
        raise OperationalError(f"the model's lineage {path} is not a JSON object: run `ml-ci train` again")
    return data


def refusal(freshness: Freshness, model: str) -> StaleModelError:
    lines = [f"the model {model} was trained on other data than ml.yaml names now (its lineage: {freshness.lineage}):"]
    lines += [f"  {c}" for c in freshness.changes]
    lines.append(
        "retrain it (`ml-ci train`), or pass --allow-stale-model to evaluate this model anyway "
        "(eval.json then records it as stale)"
    )
    return StaleModelError("\n".join(lines))
