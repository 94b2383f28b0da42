"""The image's provenance: an in-toto Statement v1 with an SLSA Provenance v1 predicate.

Docs draft. *Why*: before a model goes to production a platform team asks which commit and which data made
this image, and whether its gates passed. The provenance answers in the format that supply-chain tools read
(slsa-verifier, `gh attestation verify`, cosign's `verify-attestation`, policy engines): the image by digest is
the statement's subject, and the predicate names what the build used.

*What*: `statement(inputs)` is a pure function of `ProvenanceInputs`, and `statement_bytes` its JSON (sorted
keys, no spaces), so the same inputs give the same bytes. The predicate holds

- `buildDefinition.externalParameters`: what the user controls: ml.yaml (path and sha256) and the source
  (repository URL, commit, ref);
- `buildDefinition.resolvedDependencies`: the git commit (`gitCommit` digest), ml.yaml, each data split's
  fingerprint (lineage.json's: a file's sha256, or a hub dataset's coordinates), the base model (a folder's
  sha256 or the hub id and revision), the exported model (its ONNX sha256), and the evaluation record
  (eval.json's sha256, with its gate verdict in `annotations.verdict`);
- `runDetails.builder.id`: the GitHub workflow that ran the build (`GITHUB_SERVER_URL/GITHUB_WORKFLOW_REF`)
  in GitHub Actions, else ml-ci itself (`pkg:pypi/ml-ci@<version>`), with the run as `invocationId`;
  `metadata.startedOn`/`finishedOn` when the caller timed the build; the build's epoch (SOURCE_DATE_EPOCH)
  in `internalParameters`;
- `runDetails.byproducts`: the image's SBOM by sha256 (an output of the build, not an input, as SLSA sorts
  them).

`gather` reads these inputs from a model repository's records (`.ml-ci/artifacts/`: build's image.json,
train's lineage.json, evaluate's eval.json, export's model.json) and the git checkout or the Actions
environment; `read_statement` reads back what a verifier checks.

*What it trusts*: the records and the environment of the job that runs it. A statement is a claim until
signed (`ml_ci.supply.dsse`, or GitHub's attestations); a signature says who claims it, so a compromised
runner that holds the key can still claim anything about the images it builds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ml_ci.digest import file_sha256
from ml_ci.errors import DeployError, OperationalError
from ml_ci.jsonfile import read_optional
from ml_ci.pipeline.layout import EVAL_RECORD, LINEAGE, MODEL_RECORD, Layout
from ml_ci.provenance import GitInfo, git_info, source_date_epoch
from ml_ci.records import image as image_record
from ml_ci.records.evaluation import verdict_of

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# What an ml-ci build is, for `buildDefinition.buildType` (SLSA: a URI whose page explains the parameters).
BUILD_TYPE = "https://github.com/ml-ci/ml-ci/blob/main/docs/supply-chain.md#build-type-v1"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class Subject:
    name: str  # the image's repository (REGISTRY/REPO)
    digest: str  # sha256:<hex> of its manifest, as the registry names it


@dataclass(frozen=True, kw_only=True)
class Source:
    commit: str
    repository: str | None = None  # its URL (GITHUB_SERVER_URL/GITHUB_REPOSITORY, or git's origin)
    ref: str | None = None  # refs/heads/main, refs/tags/v1.2.0, when known


@dataclass(frozen=True, order=True, kw_only=True)
class DataSplit:
    role: str  # train, validation, test, reference
    fingerprint: str  # sha256:<hex> of a file (or derived), or a hub split's coordinates
    source: str = ""  # as ml.yaml names it: a path in the repository, or hub:<id>


@dataclass(frozen=True, kw_only=True)
class BaseModelRef:
    spec: str  # ml.yaml's model.base
    revision: str | None
    identity: str  # sha256:<hex> over a folder, or hub:<id>@<revision or unpinned>


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    path: str  # as the build read it, relative to the repository (.ml-ci/artifacts/evaluate/eval.json)
    sha256: str  # of its bytes
    verdict: str  # pass, fail, unknown


@dataclass(frozen=True, kw_only=True)
class Builder:
    id: str
    version: Mapping[str, str] = field(default_factory=dict)
    invocation_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class ProvenanceInputs:
    subject: Subject
    config_path: str  # ml.yaml, relative to the repository
    config_sha256: str
    source: Source | None  # None outside git (a statement then names no commit, and a verifier refuses it)
    data: tuple[DataSplit, ...] = ()
    base_model: BaseModelRef | None = None
    model_sha256: str | None = None  # the exported ONNX graph's (model.json's sha256)
    evaluation: Evaluation | None = None
    sbom_sha256: str | None = None
    builder: Builder
    source_date_epoch: int
    started_on: int | None = None  # seconds since 1970, when the caller timed the build
    finished_on: int | None = None


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git_uri(source: Source) -> str | None:
    """SPDX's download location form, as SLSA's examples write a git source: git+URL@REF."""
    if not source.repository:
        return None
    url = source.repository if "://" in source.repository else f"https://{source.repository}"
    return f"git+{url}" + (f"@{source.ref}" if source.ref else "")


def _descriptor(
    name: str, *, uri: str | None = None, digest: Mapping[str, str] | None = None, **annotations: Any
) -> dict[str, Any]:
    """An in-toto ResourceDescriptor (name, uri, digest, annotations), leaving out what is unknown."""
    out: dict[str, Any] = {"name": name}
    if uri:
        out["uri"] = uri
    if digest:
        out["digest"] = dict(digest)
    kept = {k: v for k, v in annotations.items() if v is not None}
    if kept:
        out["annotations"] = kept
    return out


def _data(split: DataSplit) -> dict[str, Any]:
    digest = {"sha256": _hex(split.fingerprint)} if _SHA256.match(split.fingerprint) else None
    return _descriptor(f"data/{split.role}", uri=split.source or None, digest=digest, fingerprint=split.fingerprint)


def _base_model(base: BaseModelRef) -> dict[str, Any]:
    digest: dict[str, str] = {}
    if _SHA256.match(base.identity):
        digest["sha256"] = _hex(base.identity)
    elif base.revision and _HEX40.match(base.revision):
        digest["gitCommit"] = base.revision  # a hub model pinned to a commit of its repository
    uri = base.identity if base.identity.startswith("hub:") else base.spec
    return _descriptor("base-model", uri=uri, digest=digest, spec=base.spec, revision=base.revision, identity=base.identity)


def statement(inputs: ProvenanceInputs) -> dict[str, Any]:
    """The in-toto statement (a JSON object) that `inputs` describe."""
    from ml_ci import __version__

    if not _SHA256.match(inputs.subject.digest):
        raise ValueError(f"{inputs.subject.digest!r} is not an image digest (sha256:<64 hex digits>)")
    config_digest = {"sha256": _hex(inputs.config_sha256)}
    external: dict[str, Any] = {"config": {"path": inputs.config_path, "digest": config_digest}}
    dependencies: list[dict[str, Any]] = []
    if inputs.source is not None:
        src = inputs.source
        external["source"] = {k: v for k, v in (("repository", src.repository), ("commit", src.commit), ("ref", src.ref)) if v}
        dependencies.append(_descriptor("source", uri=_git_uri(src), digest={"gitCommit": src.commit}))
    dependencies.append(_descriptor(inputs.config_path, digest=config_digest))
    dependencies.extend(_data(s) for s in sorted(inputs.data))
    if inputs.base_model is not None:
        dependencies.append(_base_model(inputs.base_model))
    if inputs.model_sha256:
        dependencies.append(_descriptor("model", digest={"sha256": _hex(inputs.model_sha256)}))
    if inputs.evaluation is not None:
        ev = inputs.evaluation
        dependencies.append(_descriptor("evaluation", uri=ev.path, digest={"sha256": _hex(ev.sha256)}, verdict=ev.verdict))

    metadata: dict[str, Any] = {}
    if inputs.builder.invocation_id:
        metadata["invocationId"] = inputs.builder.invocation_id
    if inputs.started_on is not None:
        metadata["startedOn"] = _time(inputs.started_on)
    if inputs.finished_on is not None:
        metadata["finishedOn"] = _time(inputs.finished_on)
    run: dict[str, Any] = {"builder": {"id": inputs.builder.id, "version": dict(inputs.builder.version)}}
    if metadata:
        run["metadata"] = metadata
    if inputs.sbom_sha256:
        sbom = {"sha256": _hex(inputs.sbom_sha256)}
        run["byproducts"] = [{"name": "sbom", "digest": sbom, "mediaType": SBOM_MEDIA_TYPE}]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": inputs.subject.name, "digest": {"sha256": _hex(inputs.subject.digest)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"sourceDateEpoch": inputs.source_date_epoch, "mlCiVersion": __version__},
                "resolvedDependencies": dependencies,
            },
            "runDetails": run,
        },
    }


def statement_bytes(inputs: ProvenanceInputs) -> bytes:
    """The statement as the DSSE payload: JSON with sorted keys and no spaces, the same bytes for the same inputs."""
    return json.dumps(statement(inputs), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def builder(env: Mapping[str, str]) -> Builder:
    """The workflow that runs the build in GitHub Actions (its ref names the file and the branch or tag),
    else ml-ci itself on whatever machine runs it."""
    from ml_ci import __version__

    version = {"ml-ci": __version__}
    server = env.get("GITHUB_SERVER_URL") or "https://github.com"
    workflow_ref = env.get("GITHUB_WORKFLOW_REF")
    if env.get("GITHUB_ACTIONS") == "true" and workflow_ref:
        run_id, repo = env.get("GITHUB_RUN_ID"), env.get("GITHUB_REPOSITORY")
        invocation = None
        if run_id and repo:
            invocation = f"{server}/{repo}/actions/runs/{run_id}/attempts/{env.get('GITHUB_RUN_ATTEMPT') or '1'}"
        return Builder(id=f"{server}/{workflow_ref}", version=version, invocation_id=invocation)
    return Builder(id=f"pkg:pypi/ml-ci@{__version__}", version=version)


def _ref(env: Mapping[str, str], git: GitInfo) -> str | None:
    """The ref the workflow runs on (GITHUB_REF), else the git tag at HEAD; None when neither names one."""
    ref = env.get("GITHUB_REF")
    if ref:
        return ref
    return f"refs/tags/{git.tag}" if git.tag else None


def data_splits(lineage: Any) -> tuple[DataSplit, ...]:
    """lineage.json's `data` (role -> {source, fingerprint}); () when it has none."""
    data = lineage.get("data") if isinstance(lineage, dict) else None
    if not isinstance(data, dict):
        return ()
    out = []
    for role, row in data.items():
        if isinstance(row, dict) and isinstance(row.get("fingerprint"), str):
            source = row.get("source")
            out.append(
                DataSplit(role=str(role), fingerprint=row["fingerprint"], source=source if isinstance(source, str) else "")
            )
    return tuple(sorted(out))


def base_model(lineage: Any) -> BaseModelRef | None:
    base = lineage.get("base_model") if isinstance(lineage, dict) else None
    if not isinstance(base, dict) or not isinstance(base.get("spec"), str) or not isinstance(base.get("identity"), str):
        return None
    revision = base.get("revision")
    return BaseModelRef(spec=base["spec"], revision=revision if isinstance(revision, str) else None, identity=base["identity"])


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def gather(
    config_path: Path,
    *,
    env: Mapping[str, str],
    sbom_sha256: str | None = None,
    subject: Subject | None = None,
    started_on: int | None = None,
    finished_on: int | None = None,
    git: GitInfo | None = None,
) -> ProvenanceInputs:
    """The inputs of the statement of the image `ml-ci build --push` recorded (or `subject`), read from the model
    repository of config_path (ml.yaml): its records, its git commit (the Actions commit in a workflow) and
    env. OperationalError when the image was not pushed (the subject is the registry's digest) or ml.yaml is
    absent; records that do not exist leave their part out (a hand-made repository may lack lineage.json).
    `git` stands for the commit ml_ci.provenance.git_info finds (tests pass one)."""
    root = config_path.parent
    layout = Layout(root)
    if subject is None:
        record = image_record.read(layout.image_record)
        if not record.pushed or not record.digest:
            raise OperationalError(
                f"{layout.image_record}: the image was built but not pushed; its provenance names it by its "
                "registry digest (`ml-ci build --push`)"
            )
        subject = Subject(name=record.repository, digest=record.digest)
        epoch = record.source_date_epoch
    else:
        epoch = None
    try:
        config_sha256 = file_sha256(config_path)
    except OSError as e:
        raise OperationalError(f"{config_path}: cannot read ml.yaml ({e.strerror or e})") from None
    git = git_info(root, env) if git is None else git
    source = Source(commit=git.sha, repository=git.source, ref=_ref(env, git)) if git.sha else None
    if epoch is None:
        try:
            epoch = source_date_epoch(env, git.timestamp, None)
        except ValueError as e:
            raise OperationalError(str(e)) from None

    lineage = read_optional(layout.path(LINEAGE))
    evaluation = None
    eval_path = layout.path(EVAL_RECORD)
    if eval_path.is_file():
        evaluation = Evaluation(
            path=_relative(eval_path, root), sha256=file_sha256(eval_path), verdict=verdict_of(read_optional(eval_path))
        )
    model = read_optional(layout.path(MODEL_RECORD))
    model_sha = model.get("sha256") if isinstance(model, dict) else None
    return ProvenanceInputs(
        subject=subject,
        config_path=_relative(config_path, root),
        config_sha256=config_sha256,
        source=source,
        data=data_splits(lineage),
        base_model=base_model(lineage),
        model_sha256=model_sha if isinstance(model_sha, str) else None,
        evaluation=evaluation,
        sbom_sha256=sbom_sha256,
        builder=builder(env),
        source_date_epoch=epoch,
        started_on=started_on,
        finished_on=finished_on,
    )


@dataclass(frozen=True, kw_only=True)
class Claims:
    """What a verifier checks in a statement, read back from its JSON."""

    subjects: tuple[Subject, ...]
    commit: str | None
    config_sha256: str | None
    evaluation_sha256: str | None
    verdict: str | None  # None when the statement names no evaluation
    sbom_sha256: str | None
    builder_id: str


def _dependency(dependencies: Sequence[Any], name: str) -> dict[str, Any] | None:
    return next((d for d in dependencies if isinstance(d, dict) and d.get("name") == name), None)


def read_statement(payload: bytes, source: str) -> Claims:
    """The claims of an ml-ci provenance statement (a verified DSSE payload); DeployError naming `source` when it is
    not an in-toto statement with an SLSA provenance v1 predicate."""
    try:
        data = json.loads(payload)
    except ValueError as e:
        raise DeployError(f"{source}: the provenance is not JSON ({e})") from None
    if not isinstance(data, dict) or data.get("_type") != STATEMENT_TYPE:
        found = data.get("_type") if isinstance(data, dict) else type(data).__name__
        raise DeployError(f"{source}: not an in-toto statement ({STATEMENT_TYPE}): _type is {found!r}")
    if data.get("predicateType") != PREDICATE_TYPE:
        raise DeployError(f"{source}: its predicateType is {data.get('predicateType')!r}, not {PREDICATE_TYPE!r}")
    try:
        subjects = tuple(Subject(name=str(s.get("name", "")), digest="sha256:" + s["digest"]["sha256"]) for s in data["subject"])
        predicate = data["predicate"]
        definition, run = predicate["buildDefinition"], predicate["runDetails"]
        dependencies = definition.get("resolvedDependencies") or []
        src = _dependency(dependencies, "source")
        ev = _dependency(dependencies, "evaluation")
        config = (definition.get("externalParameters") or {}).get("config") or {}
        sbom = next((b for b in run.get("byproducts") or [] if b.get("name") == "sbom"), None)
        return Claims(
            subjects=subjects,
            commit=src["digest"]["gitCommit"] if src else None,
            config_sha256=("sha256:" + config["digest"]["sha256"]) if config.get("digest") else None,
            evaluation_sha256="sha256:" + ev["digest"]["sha256"] if ev else None,
            verdict=str((ev.get("annotations") or {}).get("verdict") or "unknown") if ev else None,
            sbom_sha256="sha256:" + sbom["digest"]["sha256"] if sbom else None,
            builder_id=str(run["builder"]["id"]),
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise DeployError(f"{source}: the provenance is not one ml-ci writes (missing or malformed {e})") from None
