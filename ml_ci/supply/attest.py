"""Attest a pushed image and verify an image's attestations: what `supply_chain` in ml.yaml asks for (issue 19).

*Attest* (`ml-ci build --push`, after the push): the image's CycloneDX SBOM (`sbom`), its in-toto provenance
statement gathered from the model repository's records and naming the SBOM by digest (`provenance`), signed into
a DSSE envelope with the private key in `supply_chain.signing_key_env` (`dsse`); both attached to the image digest
as OCI 1.1 referrers (`referrers`): the SBOM as an artifact of type `application/vnd.cyclonedx+json`, the
envelope as one of type `application/vnd.in-toto+json` (its blob a `application/vnd.dsse.envelope.v1+json`).

*Verify* (`ml-ci verify IMAGE`, and `ml-ci deploy`/`promote` before they change anything): discover the
referrers of the image's digest (a tag is resolved to the digest it names now), fetch them (each checked against
its descriptor by `referrers.fetch`), and accept the image only when one provenance envelope

- is signed by `supply_chain.public_key` (a committed file: the one thing verification trusts);
- names the image's digest as its subject (a provenance copied from another image, or a tag moved to another
  image, is refused);
- names, as its SBOM, the digest of an SBOM attached to the image (a replaced SBOM is refused);
- names the expected commit, when one is expected;
- names an evaluation record whose verdict is pass.

Every failure is a message naming what did not match; `Findings.failures` holds them all. What the registry lists
is not trusted (anyone who can push can attach artifacts): an envelope that fails is reported only when no other
envelope passes, so junk attached beside a good attestation cannot block a deploy, and cannot make one pass.

A registry that cannot be reached raises OperationalError (exit 1): that says nothing about the image.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ml_ci.digest import file_sha256
from ml_ci.errors import DeployError, OperationalError
from ml_ci.jsonfile import read_optional
from ml_ci.pipeline.layout import LINEAGE, Layout
from ml_ci.records.imageref import ImageRef, parse
from ml_ci.records.release import PASSING_VERDICTS
from ml_ci.supply import dsse, provenance, referrers, sbom

if TYPE_CHECKING:
    from ml_ci.config.model import Config, SupplyChain
    from ml_ci.records.image import ImageRecord

SBOM_ARTIFACT_TYPE = sbom.MEDIA_TYPE  # application/vnd.cyclonedx+json
PROVENANCE_ARTIFACT_TYPE = dsse.PAYLOAD_TYPE  # application/vnd.in-toto+json: what the envelope carries
# Annotations on the envelope's manifest, so that `oras discover` shows what it is without fetching it.
PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
KEYID_ANNOTATION = "dev.ml-ci.signature.keyid"


def section(config: Config) -> SupplyChain:
    if config.supply_chain is None:
        raise OperationalError(f"{config.path}: has no supply_chain section; add one to attest or verify images")
    return config.supply_chain


def signer(config: Config, env: Mapping[str, str]) -> Any:
    """The signer of the key in supply_chain.signing_key_env: read before the build starts, so that a missing secret
    fails in seconds (OperationalError naming the variable), not after the image is built and pushed."""
    return dsse.signer_from_env(env, section(config).signing_key_env)


def public_key(config: Config) -> Any:
    """The key of supply_chain.public_key (a file in the repository); OperationalError naming it when unreadable."""
    return dsse.public_key_from_file(config.root / section(config).public_key)


# --- attest ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attestation:
    """What attest() attached to `subject`."""

    subject: ImageRef
    sbom: referrers.Referrer
    provenance: referrers.Referrer
    sbom_sha256: str
    keyid: str


def _model_files(paths: Sequence[Path]) -> tuple[sbom.ModelFile, ...]:
    """The files the image holds under /opt/model (the build context's model/: one folder, no subfolders)."""
    return tuple(
        sbom.ModelFile(path=f"{sbom.MODEL_PREFIX}/{p.name}", sha256=file_sha256(p), model=sbom.is_model_file(p.name))
        for p in sorted(paths, key=lambda p: p.name)
    )


def attest(
    config: Config,
    record: ImageRecord,
    *,
    env: Mapping[str, str],
    docker: Any,
    model_files: Sequence[Path],
    signing: Any = None,
    log: Callable[[str], None] = print,
) -> Attestation:
    """Make the SBOM of the pushed image `record` names (its packages read by running it in the Docker engine
    `docker`; `model_files`: the files copied into its /opt/model), its provenance (from the records of the
    repository of config, which must hold `record` as build/image.json), sign it with `signing` (default: the key
    in supply_chain.signing_key_env) and attach both to the image digest in its registry."""
    if not record.pushed or not record.digest:
        raise OperationalError(f"{record.reference} was not pushed; only an image in a registry can be attested")
    signing = signer(config, env) if signing is None else signing
    subject = parse(record.reference)
    contents = sbom.collect_image_contents(docker, record.image_id)
    document = sbom.make_sbom(
        image=record.repository,
        digest=record.digest,
        contents=contents,
        model_files=_model_files(model_files),
        base_model=sbom.base_model_from_lineage(read_optional(Layout(config.root).path(LINEAGE))),
        epoch=record.source_date_epoch,
        name=config.name,
    )
    sbom.validate(document)
    sbom_sha256 = referrers.sha256_digest(document)
    inputs = provenance.gather(config.path, env=env, sbom_sha256=sbom_sha256)
    if inputs.subject.digest != record.digest:
        raise OperationalError(
            f"{Layout(config.root).image_record} names {inputs.subject.digest}, not the image just pushed ({record.digest})"
        )
    envelope = dsse.sign(provenance.statement_bytes(inputs), signing)
    keyid = str(signing.public_key.keyid)
    auth = referrers.credentials(config.image, env)
    sbom_ref = referrers.attach(subject, document, media_type=sbom.MEDIA_TYPE, artifact_type=SBOM_ARTIFACT_TYPE, auth=auth)
    provenance_ref = referrers.attach(
        subject,
        envelope,
        media_type=dsse.MEDIA_TYPE,
        artifact_type=PROVENANCE_ARTIFACT_TYPE,
        annotations={PREDICATE_ANNOTATION: provenance.PREDICATE_TYPE, KEYID_ANNOTATION: keyid},
        auth=auth,
    )
    log(
        f"attested {subject}: SBOM {sbom_ref.descriptor.digest} ({len(contents.distributions)} Python distributions, "
        f"{len(contents.os_packages)} OS packages), provenance {provenance_ref.descriptor.digest} signed by key {keyid}"
    )
    return Attestation(subject, sbom_ref, provenance_ref, sbom_sha256, keyid)


# --- verify ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Expectations:
    """What an image's attestations must say. key: the public key (dsse.public_key_from_file/_pem)."""

    key: Any
    commit: Optional[str] = None  # the commit the provenance must name; None: any commit (but it must name one)


def expectations(config: Config, *, commit: Optional[str] = None) -> Expectations:
    return Expectations(key=public_key(config), commit=commit)


@dataclass(frozen=True, kw_only=True)
class Findings:
    """What verify() found about `image`; `failures` empty means every check passed."""

    image: ImageRef
    failures: tuple[str, ...]
    sbom_sha256: Optional[str] = None  # of the SBOM the accepted provenance names, once found attached
    sbom_components: Optional[int] = None
    commit: Optional[str] = None
    config_sha256: Optional[str] = None
    verdict: Optional[str] = None
    builder: Optional[str] = None
    keyid: Optional[str] = None  # of the key whose signature verified
    artifacts: tuple[str, ...] = field(default=())  # what was listed: "<artifactType> <digest>"

    @property
    def ok(self) -> bool:
        return not self.failures

    def refusal(self) -> DeployError:
        return DeployError(f"{self.image} fails verification of its supply chain:\n  - " + "\n  - ".join(self.failures))


@dataclass(frozen=True)
class _Sbom:
    sha256: str
    components: Optional[int]


def _components(content: bytes) -> Optional[int]:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    found = data.get("components") if isinstance(data, dict) else None
    return len(found) if isinstance(found, list) else None


def _check(claims: provenance.Claims, image: ImageRef, sboms: Sequence[_Sbom], expect: Expectations) -> list[str]:
    """What in a verified statement does not match the image, its SBOMs and what is expected."""
    failures = []
    digests = [s.digest for s in claims.subjects]
    if image.digest not in digests:
        failures.append(
            f"subject: the provenance is for {', '.join(digests) or 'no image'}, not for this image's digest "
            f"{image.digest} (it was made for another image: a tag moved, or an attestation copied)"
        )
    if claims.sbom_sha256 is None:
        failures.append("SBOM: the provenance names no SBOM")
    elif not any(s.sha256 == claims.sbom_sha256 for s in sboms):
        attached = ", ".join(s.sha256 for s in sboms) or "none"
        failures.append(
            f"SBOM: the provenance names the SBOM {claims.sbom_sha256}, but the SBOM attached to the image is "
            f"{attached} (replaced or missing)"
        )
    if expect.commit and claims.commit != expect.commit:
        failures.append(f"commit: the provenance names commit {claims.commit or 'none'}, not the expected {expect.commit}")
    if claims.verdict is None:
        failures.append("evaluation: the provenance names no evaluation record, so no passing quality gates")
    elif claims.verdict not in PASSING_VERDICTS:
        failures.append(
            f"evaluation: the evaluation record the provenance names has verdict {claims.verdict!r}, not pass "
            "(only a model whose quality gates passed is deployed)"
        )
    return failures


def verify(
    image: ImageRef | str,
    expect: Expectations,
    *,
    auth: Optional[tuple[str, str]] = None,
    timeout: float = 30,
) -> Findings:
    """Check the attestations attached to image (REGISTRY/REPO@sha256:..., or :TAG, resolved to its digest now)."""
    subject = image if isinstance(image, ImageRef) else referrers.resolve_image(image, auth=auth, timeout=timeout)
    try:
        listed = referrers.discover(subject, auth=auth, timeout=timeout)
    except DeployError as e:  # a malformed referrers list: nothing in it can be trusted to be checked
        return Findings(image=subject, failures=(f"referrers: {e}",))
    artifacts = tuple(f"{r.artifact_type or '?'} {r.descriptor.digest}" for r in listed)
    problems: list[str] = []  # artifacts that could not be read: reported only when nothing passes

    sboms: list[_Sbom] = []
    for r in listed:
        if r.artifact_type != SBOM_ARTIFACT_TYPE:
            continue
        try:
            content = referrers.fetch(r, auth=auth, timeout=timeout).content
        except DeployError as e:
            problems.append(f"SBOM {r.descriptor.digest}: {e}")
            continue
        sboms.append(_Sbom(referrers.sha256_digest(content), _components(content)))

    envelopes = [r for r in listed if r.artifact_type == PROVENANCE_ARTIFACT_TYPE]
    if not envelopes:
        found = ", ".join(artifacts) or "nothing"
        return Findings(
            image=subject,
            failures=(
                f"provenance: no signed provenance ({PROVENANCE_ARTIFACT_TYPE}) refers to {subject.digest} "
                f"(found: {found}); `ml-ci build --push` attaches one when supply_chain.attest is on",
                *problems,
            ),
            artifacts=artifacts,
        )
    rejected: list[tuple[list[str], Optional[provenance.Claims], str]] = []
    for r in envelopes:
        where = f"provenance {r.descriptor.digest}"
        try:
            envelope = referrers.fetch(r, auth=auth, timeout=timeout).content
            payload = dsse.verify(envelope, expect.key, source=f"signature: the envelope {r.descriptor.digest}")
            claims = provenance.read_statement(payload, where)
        except DeployError as e:  # SignatureMismatch and integrity errors are DeployErrors
            rejected.append(([str(e)], None, ""))
            continue
        failures = _check(claims, subject, sboms, expect)
        if not failures:
            named = next(s for s in sboms if s.sha256 == claims.sbom_sha256)
            return Findings(
                image=subject,
                failures=(),
                sbom_sha256=named.sha256,
                sbom_components=named.components,
                commit=claims.commit,
                config_sha256=claims.config_sha256,
                verdict=claims.verdict,
                builder=claims.builder_id,
                keyid=str(expect.key.keyid),
                artifacts=artifacts,
            )
        rejected.append(([f"{where}: {f}" for f in failures], claims, str(expect.key.keyid)))
    # Nothing passed: report every envelope's failures, and what the first one that verified claims.
    shown = next((c for _, c, _ in rejected if c is not None), None)
    keyid = next((k for _, c, k in rejected if c is not None), None)
    return Findings(
        image=subject,
        failures=tuple(f for fs, _, _ in rejected for f in fs) + tuple(problems),
        sbom_sha256=shown.sbom_sha256 if shown else None,
        commit=shown.commit if shown else None,
        config_sha256=shown.config_sha256 if shown else None,
        verdict=shown.verdict if shown else None,
        builder=shown.builder_id if shown else None,
        keyid=keyid,
        artifacts=artifacts,
    )


def verify_for(
    config: Config, image: ImageRef | str, env: Mapping[str, str], *, commit: Optional[str] = None, timeout: float = 30
) -> Findings:
    """verify() with what ml.yaml configures: supply_chain.public_key, and image.registry_*_env's credentials."""
    return verify(image, expectations(config, commit=commit), auth=referrers.credentials(config.image, env), timeout=timeout)
