"""The records deploy reads and writes, as plain data.

Inputs come from other stages (build/image.json, evaluate/eval.json, export/golden.json);
a `Release` is what one environment runs: it is written beside the overlay in the GitOps
repository (release.json) and under .ml-ci/state/, and promotion reads it back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Optional

from ml_ci.deploy.imageref import ImageRef, parse
from ml_ci.errors import DeployError, OperationalError

SmokeResult = Literal["passed", "failed", "skipped", "not-run", "pending"]
Status = Literal["live", "pending", "reverted", "failed"]
PASSING_VERDICTS = frozenset({"pass", "passed"})


def read_json(path: Path, what: str, hint: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OperationalError(f"{path}: {what} is missing; {hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(f"{path}: cannot read {what}: {e}") from None
    except json.JSONDecodeError as e:
        raise OperationalError(f"{path}:{e.lineno}:{e.colno}: {what} is not valid JSON: {e.msg}") from None


def image_from_record(data: Any, source: str) -> ImageRef:
    """The digest reference from build/image.json (`image` or `reference` holds REPO@sha256:...)."""
    if isinstance(data, dict):
        for key in ("image", "reference", "ref"):
            value = data.get(key)
            if isinstance(value, str) and "@" in value:
                return parse(value)
        if data.get("pushed") is False:
            raise DeployError(
                f"{source}: the image was built but not pushed; deploys need it in the registry (`ml-ci build --push`)"
            )
        repo, digest = data.get("repository"), data.get("digest")
        if isinstance(repo, str) and isinstance(digest, str):
            return parse(f"{repo}@{digest}")
    raise DeployError(f'{source}: no image reference by digest in it (expected "image": "REGISTRY/REPO@sha256:...")')


def verdict_of(eval_record: Any) -> str:
    """The gate verdict recorded by `ml-ci evaluate` ("pass" or "fail"); "unknown" when absent."""
    if isinstance(eval_record, dict):
        verdict = eval_record.get("verdict")
        if isinstance(verdict, str):
            return verdict.lower()
        if isinstance(verdict, dict) and isinstance(verdict.get("status"), str):
            return str(verdict["status"]).lower()
        if isinstance(eval_record.get("passed"), bool):
            return "pass" if eval_record["passed"] else "fail"
    return "unknown"


@dataclass(frozen=True, kw_only=True)
class Release:
    """What runs in one environment, and how it got there."""

    environment: str
    image: str  # REGISTRY/REPO@sha256:...
    verdict: str  # the evaluation record's gate verdict
    smoke: SmokeResult
    status: Status
    deployed_at: str
    source: str  # "deploy" or "promote:<env>" or "revert"
    previous: Optional[str] = None  # the image this one replaced: what a rollback returns to
    reason: Optional[str] = None  # why it failed or was reverted
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> ImageRef:
        return parse(self.image)

    @property
    def digest(self) -> str:
        return self.ref.digest

    @property
    def good(self) -> bool:
        """Live, gated and smoke-tested: what a promotion may copy and a revert may return to."""
        return self.status == "live" and self.verdict in PASSING_VERDICTS and self.smoke in ("passed", "skipped")

    def with_(self, **changes: Any) -> Release:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> Release:
        try:
            data = json.loads(text)
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            release = cls(**known)
            release.ref  # noqa: B018 - validates the stored reference
            return release
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise OperationalError(f"{source}: unreadable release record ({e}); fix or remove it") from None


@dataclass(frozen=True)
class Golden:
    """One golden example: a text and the prediction the served model must reproduce."""

    text: str
    label: str
    probabilities: dict[str, float]
    # The top two classes nearly tie (export marks these): the label may flip between two correct
    # runtimes (int8 kernels batch differently), so only the probabilities are compared.
    near_tie: bool = False


@dataclass(frozen=True)
class GoldenSet:
    examples: tuple[Golden, ...]
    tolerance: Optional[float] = None  # the export's own tolerance for probabilities, when it records one


def golden_examples(data: Any, source: str) -> GoldenSet:
    """Parse export/golden.json: {"labels", "tolerance", "examples": [{"text", "expected": {label, probabilities}}]}.

    A row without "expected" may carry label and probabilities itself; probabilities may be a
    {label: p} mapping or a list in the order of "labels".
    """
    labels = data.get("labels") if isinstance(data, dict) else None
    rows = data.get("examples") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise OperationalError(f'{source}: no golden examples in it (expected "examples": [{{text, expected}}])')
    out: list[Golden] = []
    for i, row in enumerate(rows):
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
    tolerance = data.get("tolerance") if isinstance(data, dict) else None
    return GoldenSet(tuple(out), float(tolerance) if isinstance(tolerance, (int, float)) else None)
