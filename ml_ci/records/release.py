"""The release record: what runs in one environment and how it got there (release.json), and the
per-environment deploy record that carries it beside the evaluation record and the golden examples
the digest was deployed with.

The deploy record lives in three places, with the same files: .ml-ci/state/<env>/ on the machine
that deployed, the environment's overlay in the GitOps repository, and (`strategy: apply`) the
release ConfigMap in the cluster. Promotion reads it back and deploys the next environment with it.

Version 1 is the format ml-ci has always written, which has no "version" key, so that the files
stay byte-identical to what earlier releases wrote and read. A format change writes
"version": 2 and `Release.from_json` says what it does with records of version 1.
The evaluation record and the golden examples travel as their stages wrote them (opaque here).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from ml_ci.atomic import write_text
from ml_ci.errors import OperationalError
from ml_ci.jsonfile import read_json
from ml_ci.records.evaluation import without_predictions
from ml_ci.records.imageref import ImageRef, parse

VERSION = 1
SmokeResult = Literal["passed", "failed", "skipped", "not-run", "pending"]
Status = Literal["live", "pending", "reverted", "failed"]
PASSING_VERDICTS = frozenset({"pass", "passed"})
RELEASE, EVAL, GOLDEN = "release.json", "eval.json", "golden.json"


@dataclass(frozen=True, kw_only=True)
class Release:
    """What runs in one environment, and how it got there."""

    version: ClassVar[int] = VERSION  # not written: version 1 is the format without the key
    environment: str
    image: str  # REGISTRY/REPO@sha256:...
    verdict: str  # the evaluation record's gate verdict
    smoke: SmokeResult
    status: Status
    deployed_at: str
    source: str  # "deploy" or "promote:<env>" or "revert"
    previous: Optional[str] = None  # the image this one replaced: what a rollback returns to
    reason: Optional[str] = None  # why it failed or was reverted
    # model_sha256 (the served model file's digest) and manifests_sha256 (`strategy: apply`): read
    # through the properties below, so that no reader names the keys.
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

    @property
    def model_sha256(self) -> Optional[str]:
        """The digest of the model file the image serves, when the deploy knew it."""
        sha = self.extra.get("model_sha256")
        return sha if isinstance(sha, str) else None

    @property
    def manifests_sha256(self) -> Optional[str]:
        """`strategy: apply`: the fingerprint of the manifests applied with it."""
        sha = self.extra.get("manifests_sha256")
        return sha if isinstance(sha, str) else None

    def with_(self, **changes: Any) -> Release:
        return replace(self, **changes)

    def with_manifests_sha256(self, fingerprint: str) -> Release:
        return replace(self, extra={**self.extra, "manifests_sha256": fingerprint})

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


def extra_for(model_sha256: Optional[str]) -> dict[str, Any]:
    """A new release's extra: the served model's digest, when known."""
    return {"model_sha256": model_sha256} if model_sha256 else {}


def read(path: Path) -> Release:
    return Release.from_json(path.read_text(encoding="utf-8"), str(path))


def write(path: Path, release: Release) -> None:
    _write_private(path, release.to_json())


@dataclass(frozen=True, kw_only=True)
class Deployed:
    """A release with the records it was deployed with: what promotion copies to the next environment."""

    release: Release
    eval_record: Any  # evaluate's eval.json, as read
    golden: Any = None  # export's golden.json, as read; None when there is none

    def files(self) -> dict[str, str]:
        """The record's files as the state folder and the GitOps overlay hold them."""
        files = {EVAL: _json(self.eval_record)}
        if self.golden is not None:  # so that a promotion smoke-tests the next environment with this model's examples
            files[GOLDEN] = _json(self.golden)
        files[RELEASE] = self.release.to_json()
        return files

    def compact_files(self) -> dict[str, str]:
        """The record's files as the cluster's ConfigMap holds them (`strategy: apply`)."""
        # Per-example predictions can outgrow a ConfigMap (1 MiB); the gates and metrics are what promotion reads.
        files = {RELEASE: self.release.to_json(), EVAL: json.dumps(without_predictions(self.eval_record), sort_keys=True)}
        if self.golden is not None:
            files[GOLDEN] = json.dumps(self.golden, sort_keys=True)
        return files

    @classmethod
    def from_texts(cls, release: str, eval_record: Optional[str], golden: Optional[str], source: str) -> Deployed:
        """The record from its files' texts (a GitOps overlay, a ConfigMap's data); `source` names where."""
        return cls(
            release=Release.from_json(release, source),
            eval_record=json.loads(eval_record or "{}"),
            golden=json.loads(golden) if golden else None,
        )


def write_deployed(folder: Path, deployed: Deployed) -> None:
    """The state folder's files, each written atomically; release.json last: the release names a complete record."""
    for name, text in deployed.files().items():
        _write_private(folder / name, text)


def read_deployed(folder: Path) -> Optional[Deployed]:
    """The record in `folder`, or None when nothing was deployed there."""
    if not (folder / RELEASE).is_file():
        return None
    release = read(folder / RELEASE)
    golden = read_json(folder / GOLDEN, "golden examples", "") if (folder / GOLDEN).is_file() else None
    return Deployed(
        release=release,
        eval_record=read_json(folder / EVAL, "the evaluation record", "redeploy to write it again"),
        golden=golden,
    )


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _write_private(path: Path, text: str) -> None:
    # Whole or not at all; private (0600) as the state folder always was.
    write_text(path, text, mode=0o600)
