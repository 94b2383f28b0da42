"""ml_ci.supply.attest.verify against an in-memory registry (discover, fetch and resolve replaced by a dict of
artifacts): each thing that does not match is named. The same cases against the real registry, with signing and
attaching by attest(), are in tests/integration/test_attest.py."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from ml_ci.errors import DeployError, OperationalError
from ml_ci.records.imageref import ImageRef
from ml_ci.supply import attest, dsse, provenance, referrers
from ml_ci.supply.referrers import Descriptor, Referrer

IMAGE = ImageRef("registry.example", "acme/model", "sha256:" + "a" * 64)
OTHER = "sha256:" + "b" * 64
COMMIT = "c" * 40
SBOM = json.dumps({"bomFormat": "CycloneDX", "components": [{"name": "onnxruntime"}, {"name": "numpy"}]}).encode()


@dataclass
class Registry:
    """Artifacts by subject digest, in the order listed; what discover and fetch return."""

    listed: dict[str, list[tuple[Referrer, bytes]]] = field(default_factory=dict)

    def add(self, subject: ImageRef, content: bytes, artifact_type: str) -> Referrer:
        digest = referrers.sha256_digest(content + artifact_type.encode())  # a manifest digest stand-in
        r = Referrer(subject, Descriptor(referrers.MANIFEST, digest, len(content), artifact_type))
        self.listed.setdefault(subject.digest, []).append((r, content))
        return r

    def drop(self, r: Referrer) -> None:
        self.listed[r.subject.digest] = [(x, c) for x, c in self.listed[r.subject.digest] if x != r]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    reg = Registry()

    def discover(subject: ImageRef, **kw: Any) -> list[Referrer]:
        return [r for r, _ in reg.listed.get(subject.digest, [])]

    def fetch(r: Referrer, **kw: Any) -> referrers.Artifact:
        content = next(c for x, c in reg.listed[r.subject.digest] if x == r)
        layer = Descriptor("application/octet-stream", referrers.sha256_digest(content), len(content))
        return referrers.Artifact(r, layer, {}, content)

    monkeypatch.setattr(referrers, "discover", discover)
    monkeypatch.setattr(referrers, "fetch", fetch)
    return reg


@pytest.fixture(scope="module")
def key() -> dsse.KeyPair:
    return dsse.generate_keypair()


def statement(*, digest: str = IMAGE.digest, sbom: bytes = SBOM, verdict: str = "pass", commit: str = COMMIT) -> bytes:
    inputs = provenance.ProvenanceInputs(
        subject=provenance.Subject(name=IMAGE.name, digest=digest),
        config_path="ml.yaml",
        config_sha256="sha256:" + "d" * 64,
        source=provenance.Source(commit=commit),
        evaluation=provenance.Evaluation(
            path=".ml-ci/artifacts/evaluate/eval.json", sha256="sha256:" + "e" * 64, verdict=verdict
        ),
        sbom_sha256=referrers.sha256_digest(sbom),
        builder=provenance.Builder(id="pkg:pypi/ml-ci@test"),
        source_date_epoch=1700000000,
    )
    return provenance.statement_bytes(inputs)


def envelope(pair: dsse.KeyPair, payload: bytes) -> bytes:
    return dsse.sign(payload, dsse.signer_from_pem(pair.private_pem, "test key"))


def attested(registry: Registry, pair: dsse.KeyPair, **kw: Any) -> tuple[Referrer, Referrer]:
    s = registry.add(IMAGE, SBOM, attest.SBOM_ARTIFACT_TYPE)
    p = registry.add(IMAGE, envelope(pair, statement(**kw)), attest.PROVENANCE_ARTIFACT_TYPE)
    return s, p


def expect(pair: dsse.KeyPair, commit: str | None = None) -> attest.Expectations:
    return attest.Expectations(key=dsse.public_key_from_pem(pair.public_pem, "keys/ml-ci.pub"), commit=commit)


def test_an_attested_image_passes_and_says_what_it_found(registry: Registry, key: dsse.KeyPair) -> None:
    attested(registry, key)
    found = attest.verify(IMAGE, expect(key, COMMIT))
    assert found.ok, found.failures
    assert (found.sbom_components, found.commit, found.verdict, found.keyid) == (2, COMMIT, "pass", key.keyid)
    assert found.sbom_sha256 == referrers.sha256_digest(SBOM)
    assert found.config_sha256 == "sha256:" + "d" * 64


def test_nothing_attached(registry: Registry, key: dsse.KeyPair) -> None:
    found = attest.verify(IMAGE, expect(key))
    assert found.failures == (
        f"provenance: no signed provenance (application/vnd.in-toto+json) refers to {IMAGE.digest} (found: nothing); "
        "`ml-ci build --push` attaches one when supply_chain.attest is on",
    )
    assert str(found.refusal()).startswith(f"{IMAGE} fails verification of its supply chain:\n  - provenance: ")
    assert found.refusal().exit_code == 5


def test_a_replaced_sbom(registry: Registry, key: dsse.KeyPair) -> None:
    s, p = attested(registry, key)
    registry.drop(s)
    forged = SBOM.replace(b"numpy", b"nump0")
    registry.add(IMAGE, forged, attest.SBOM_ARTIFACT_TYPE)
    (failure,) = attest.verify(IMAGE, expect(key)).failures
    assert failure == (
        f"provenance {p.descriptor.digest}: SBOM: the provenance names the SBOM {referrers.sha256_digest(SBOM)}, but "
        f"the SBOM attached to the image is {referrers.sha256_digest(forged)} (replaced or missing)"
    )


def test_signed_by_another_key(registry: Registry, key: dsse.KeyPair) -> None:
    other = dsse.generate_keypair()
    attested(registry, other)
    (failure,) = attest.verify(IMAGE, expect(key)).failures
    assert failure.startswith("signature: the envelope sha256:")
    assert failure.endswith(f"is signed by key {other.keyid}, not by the expected key {key.keyid}")


def test_altered_signature_bytes(registry: Registry, key: dsse.KeyPair) -> None:
    data = json.loads(envelope(key, statement()))
    sig = bytearray(base64.b64decode(data["signatures"][0]["sig"]))
    sig[0] ^= 1
    data["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    registry.add(IMAGE, SBOM, attest.SBOM_ARTIFACT_TYPE)
    registry.add(IMAGE, json.dumps(data).encode(), attest.PROVENANCE_ARTIFACT_TYPE)
    (failure,) = attest.verify(IMAGE, expect(key)).failures
    assert f"the signature by key {key.keyid} does not verify" in failure


def test_provenance_of_another_image(registry: Registry, key: dsse.KeyPair) -> None:
    attested(registry, key, digest=OTHER)
    (failure,) = attest.verify(IMAGE, expect(key)).failures
    assert f"subject: the provenance is for {OTHER}, not for this image's digest {IMAGE.digest}" in failure


def test_a_failed_verdict(registry: Registry, key: dsse.KeyPair) -> None:
    attested(registry, key, verdict="fail")
    found = attest.verify(IMAGE, expect(key))
    (failure,) = found.failures
    assert "evaluation: the evaluation record the provenance names has verdict 'fail', not pass" in failure
    assert found.verdict == "fail"  # what it claims is still shown


def test_another_commit(registry: Registry, key: dsse.KeyPair) -> None:
    attested(registry, key)
    (failure,) = attest.verify(IMAGE, expect(key, "f" * 40)).failures
    assert failure.endswith(f"commit: the provenance names commit {COMMIT}, not the expected {'f' * 40}")


def test_junk_beside_a_good_attestation_does_not_block(registry: Registry, key: dsse.KeyPair) -> None:
    attested(registry, key)
    registry.add(IMAGE, envelope(dsse.generate_keypair(), statement()), attest.PROVENANCE_ARTIFACT_TYPE)
    registry.add(IMAGE, b"not an sbom", attest.SBOM_ARTIFACT_TYPE)
    assert attest.verify(IMAGE, expect(key)).ok


def test_every_failure_of_an_envelope_is_named(registry: Registry, key: dsse.KeyPair) -> None:
    registry.add(IMAGE, envelope(key, statement(digest=OTHER, verdict="fail")), attest.PROVENANCE_ARTIFACT_TYPE)
    failures = attest.verify(IMAGE, expect(key)).failures
    assert [f.split(": ")[1] for f in failures] == ["subject", "SBOM", "evaluation"]


def test_an_unreadable_referrers_list_is_a_failure(
    registry: Registry, key: dsse.KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(subject: ImageRef, **kw: Any) -> list[Referrer]:
        raise DeployError("registry.example/acme/model@sha256:aaa: referrers[0]: the descriptor has no mediaType")

    monkeypatch.setattr(referrers, "discover", broken)
    assert attest.verify(IMAGE, expect(key)).failures == (
        "referrers: registry.example/acme/model@sha256:aaa: referrers[0]: the descriptor has no mediaType",
    )


def test_an_unreachable_registry_is_operational(monkeypatch: pytest.MonkeyPatch, key: dsse.KeyPair) -> None:
    def down(subject: ImageRef, **kw: Any) -> list[Referrer]:
        raise OperationalError("the registry at http://127.0.0.1:9 does not answer (connection refused)")

    monkeypatch.setattr(referrers, "discover", down)
    with pytest.raises(OperationalError):
        attest.verify(IMAGE, expect(key))
