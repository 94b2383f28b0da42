"""Attest an image in the real registry (Debian's docker-registry, distribution 2.8, on 127.0.0.1:5000) and verify
it; each tampering makes verification fail with a message naming what did not match; deploy refuses an image
with nothing attached (exit 5) and changes nothing.

The images are the test base image ($ML_CI_TEST_BASE_IMAGE) with a label of their own (a new digest each, built
and pushed in a second: one repository, so its layers are pushed once). attest() runs for real: the SBOM is read
from the image through the Docker engine, the provenance gathered from a scratch model repository (a git commit,
ml.yaml, eval.json) and signed with an ed25519 key from the environment. A tamperer here is whoever can push to
the registry: they attach artifacts and rewrite the referrers tag (what distribution 2.8 lists them by), which
the test does with plain HTTP calls.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml_ci.build import docker_ops
from ml_ci.cli.main import main
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.digest import file_sha256
from ml_ci.net import free_port
from ml_ci.pipeline.layout import Layout
from ml_ci.records import image as image_record
from ml_ci.records.image import ImageRecord
from ml_ci.records.imageref import ImageRef
from ml_ci.supply import attest, dsse, referrers
from tests.modelrepo import make_model_repo
from tests.services import base_image, docker_engine, registry

pytestmark = pytest.mark.integration

REPOSITORY = f"ml-ci-tests/attest-{uuid.uuid4().hex[:8]}"
NAME = "attesttest"


@pytest.fixture(scope="module")
def client() -> Any:
    return docker_engine()


@pytest.fixture(scope="module", autouse=True)
def remove_images(client: Any) -> Iterator[None]:
    """The images this module built leave the engine with it (the registry keeps its copies)."""
    yield
    import docker.errors

    # By id: the image a moved tag left behind has no tag any more, only its digest in this repository.
    for image in client.images.list(name=f"{registry()}/{REPOSITORY}"):
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(image.id, force=True)


@dataclass
class Repo:
    config: Config
    key: dsse.KeyPair  # the key supply_chain.public_key holds
    commit: str
    model: Path  # the one model file "in" the image

    @property
    def env(self) -> dict[str, str]:
        return {"ML_CI_SIGNING_KEY": self.key.private_pem.decode()}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def make_repo(root: Path, verdict: str = "pass", deploy: dict[str, Any] | None = None) -> Repo:
    root.mkdir()
    (root / "keys").mkdir()
    key = dsse.write_keypair(root.parent / f"{root.name}-signing.pem", root / "keys" / "ml-ci.pub")
    overrides: dict[str, Any] = {
        "image": {"registry": registry(), "repository": REPOSITORY, "base": base_image()},
        "supply_chain": {"public_key": "keys/ml-ci.pub"},
    }
    if deploy:
        overrides["deploy"] = deploy
    path = make_model_repo(root, name=NAME, n_train=10, n_val=4, n_test=4, overrides=overrides)
    layout = Layout(root)
    layout.eval_record.parent.mkdir(parents=True)
    layout.eval_record.write_text(json.dumps({"verdict": verdict, "metrics": {"accuracy": 0.9}, "gates": []}), encoding="utf-8")
    model = root.parent / f"{root.name}-model" / "model.onnx"
    model.parent.mkdir()
    model.write_bytes(b"not really onnx, but hashed all the same")
    (root / ".gitignore").write_text(".ml-ci/\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "model")
    return Repo(load_config(path).config, key, git(root, "rev-parse", "HEAD"), model)


def push_image(client: Any, tag: str, variant: str = "") -> ImageRef:
    """The base image with a label of its own (tag and variant), pushed to REPOSITORY:tag; its reference by digest."""
    dockerfile = f"FROM {base_image()}\nLABEL dev.ml-ci.test-attest={tag}{variant}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    repository = f"{registry()}/{REPOSITORY}"
    client.images.build(fileobj=buf, custom_context=True, tag=f"{repository}:{tag}", network_mode="host", rm=True)
    pushed = docker_ops.push(client, repository, tag, None)
    return ImageRef(registry(), REPOSITORY, pushed.digest)


def record_push(repo: Repo, client: Any, tag: str) -> ImageRecord:
    """build/image.json as `ml-ci build --push` writes it for the image pushed as tag."""
    ref = push_image(client, tag)
    image = client.images.get(f"{ref.name}:{tag}")
    record = ImageRecord(
        repository=ref.name,
        tags=(tag,),
        image_id=image.id,
        size=image.attrs.get("Size"),
        labels={},
        source_date_epoch=1700000000,
        verification={},
        pushed=True,
        digest=ref.digest,
        reference=str(ref),
    )
    image_record.write(Layout(repo.config.root).image_record, record)
    return record


def attested(repo: Repo, client: Any, tag: str) -> attest.Attestation:
    record = record_push(repo, client, tag)
    return attest.attest(repo.config, record, env=repo.env, docker=client, model_files=[repo.model], log=lambda _: None)


def check(repo: Repo, image: str | ImageRef) -> attest.Findings:
    return attest.verify(image, attest.expectations(repo.config, commit=repo.commit))


# -- what a tamperer with push rights does: attach, and rewrite the referrers tag ----------------------------------


def drop(referrer: referrers.Referrer) -> None:
    """Remove referrer from its subject's referrers tag (the list distribution 2.8 serves in place of the API)."""
    subject = referrer.subject
    url = f"http://{subject.registry}/v2/{subject.repository}/manifests/{referrers.referrers_tag(subject.digest)}"
    req = urllib.request.Request(url, headers={"Accept": referrers.INDEX})
    with urllib.request.urlopen(req, timeout=15) as resp:
        index = json.loads(resp.read())
    index["manifests"] = [m for m in index["manifests"] if m["digest"] != referrer.descriptor.digest]
    body = json.dumps(index).encode()
    put = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": referrers.INDEX})
    with urllib.request.urlopen(put, timeout=15) as resp:
        assert resp.status == 201


def content(referrer: referrers.Referrer) -> bytes:
    return referrers.fetch(referrer).content


def replace_envelope(a: attest.Attestation, envelope: bytes) -> None:
    attest_again = referrers.attach(
        a.subject, envelope, media_type=dsse.MEDIA_TYPE, artifact_type=attest.PROVENANCE_ARTIFACT_TYPE
    )
    assert attest_again.descriptor.digest != a.provenance.descriptor.digest
    drop(a.provenance)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "repo")


# -- the tests ----------------------------------------------------------------------------------------------------


def test_an_attested_image_verifies_by_tag_and_on_the_command_line(
    repo: Repo, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    a = attested(repo, client, "good")
    assert {r.descriptor.digest for r in referrers.discover(a.subject)} == {
        a.sbom.descriptor.digest,
        a.provenance.descriptor.digest,
    }
    found = check(repo, f"{a.subject.name}:good")
    assert found.ok, found.failures
    assert found.image == a.subject
    assert (found.commit, found.verdict, found.keyid, found.sbom_sha256) == (repo.commit, "pass", repo.key.keyid, a.sbom_sha256)
    sbom = json.loads(content(a.sbom))
    assert found.sbom_components == len(sbom["components"]) > 10  # the base's Debian packages, at least
    (model,) = [c for c in sbom["components"] if c["name"] == "/opt/model/model.onnx"]
    assert (model["type"], model["hashes"][0]["content"]) == ("machine-learning-model", file_sha256(repo.model))

    code = main(["verify", "-c", str(repo.config.path), f"{a.subject.name}:good", "--commit", repo.commit])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines() == [
        f"image: {a.subject}",
        f"SBOM: {a.sbom_sha256} ({found.sbom_components} components)",
        f"provenance: commit {repo.commit}, ml.yaml {found.config_sha256}, eval verdict pass, built by {found.builder}",
        f"signature: key {repo.key.keyid}",
        "verified: signature, subject digest, SBOM digest, commit, eval verdict",
    ]


def test_a_replaced_sbom(repo: Repo, client: Any) -> None:
    a = attested(repo, client, "sbom")
    forged = json.loads(content(a.sbom))
    forged["components"] = forged["components"][1:]  # a package hidden from scanners
    forged_bytes = json.dumps(forged).encode()
    referrers.attach(
        a.subject, forged_bytes, media_type="application/vnd.cyclonedx+json", artifact_type=attest.SBOM_ARTIFACT_TYPE
    )
    drop(a.sbom)
    (failure,) = check(repo, a.subject).failures
    assert failure == (
        f"provenance {a.provenance.descriptor.digest}: SBOM: the provenance names the SBOM {a.sbom_sha256}, but the "
        f"SBOM attached to the image is {referrers.sha256_digest(forged_bytes)} (replaced or missing)"
    )


def test_a_provenance_re_signed_by_another_key(repo: Repo, client: Any) -> None:
    a = attested(repo, client, "resigned")
    payload = base64.b64decode(json.loads(content(a.provenance))["payload"])
    other = dsse.generate_keypair()
    replace_envelope(a, dsse.sign(payload, dsse.signer_from_pem(other.private_pem, "the tamperer's key")))
    (failure,) = check(repo, a.subject).failures
    assert failure.startswith("signature: the envelope sha256:")
    assert failure.endswith(f" is signed by key {other.keyid}, not by the expected key {repo.key.keyid}")


def test_altered_signature_bytes(repo: Repo, client: Any) -> None:
    a = attested(repo, client, "altered")
    envelope = json.loads(content(a.provenance))
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[-1] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    replace_envelope(a, json.dumps(envelope).encode())
    (failure,) = check(repo, a.subject).failures
    assert failure.endswith(
        f": the signature by key {repo.key.keyid} does not verify: the payload or its type was changed after signing, "
        "or the signature was"
    )


def test_a_tag_moved_to_another_image(repo: Repo, client: Any) -> None:
    a = attested(repo, client, "moved")
    other = push_image(client, "moved", "-other")  # the same tag, another image: nothing attached to it
    assert other.digest != a.subject.digest
    (failure,) = check(repo, f"{a.subject.name}:moved").failures
    assert failure.startswith(f"provenance: no signed provenance (application/vnd.in-toto+json) refers to {other.digest}")
    # The tamperer copies the first image's SBOM and signed provenance onto the second: signed, but not for it.
    for r in (a.sbom, a.provenance):
        referrers.attach(other, content(r), media_type=referrers.fetch(r).media_type, artifact_type=r.artifact_type)
    (failure,) = check(repo, f"{a.subject.name}:moved").failures
    assert failure.endswith(
        f": subject: the provenance is for {a.subject.digest}, not for this image's digest {other.digest} (it was made "
        "for another image: a tag moved, or an attestation copied)"
    )


def test_an_evaluation_that_failed(tmp_path: Path, client: Any) -> None:
    repo = make_repo(tmp_path / "repo", verdict="fail")
    a = attested(repo, client, "failed-eval")
    found = check(repo, a.subject)
    (failure,) = found.failures
    assert failure.endswith(
        ": evaluation: the evaluation record the provenance names has verdict 'fail', not pass (only a model whose "
        "quality gates passed is deployed)"
    )
    assert found.verdict == "fail"


def test_verify_exits_1_when_the_registry_does_not_answer(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", "-c", str(repo.config.path), f"127.0.0.1:{free_port()}/{REPOSITORY}:good"])
    assert code == 1
    assert "does not answer" in capsys.readouterr().err


@pytest.fixture
def deploy_repo(tmp_path: Path) -> Iterator[Repo]:
    envs = [{"name": "staging", "kind": "local", "port": free_port(), "smoke_test": {"enabled": False}}]
    yield make_repo(tmp_path / "repo", deploy={"strategy": "gitops", "environments": envs})
    import docker.errors

    try:  # only if the refusal failed
        client = docker.from_env()
        client.containers.get(f"ml-ci-{NAME}-staging").remove(force=True)
    except docker.errors.NotFound:
        pass


def test_deploy_refuses_an_unattested_image_and_changes_nothing(
    deploy_repo: Repo, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import docker.errors

    record = record_push(deploy_repo, client, "unattested")  # pushed, never attested
    root = deploy_repo.config.root
    code = main(["deploy", "-c", str(deploy_repo.config.path), "--env", "staging"])
    err = capsys.readouterr().err
    assert code == 5, err
    assert err.startswith(f"error: {record.reference} fails verification of its supply chain:\n  - provenance: no signed")
    assert not (root / ".ml-ci" / "state").exists()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(f"ml-ci-{NAME}-staging")
    assert git(root, "status", "--porcelain") == ""


@pytest.mark.slow
def test_build_push_attests_the_image_and_verify_accepts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The product's path: `ml-ci build` of a real exported model with supply_chain attaches what `ml-ci verify`
    accepts, its SBOM listing the served model by the digest export recorded."""
    from tests.integration.test_image import git_commit, image_overrides
    from tests.integration.test_serve_support import exported_repo

    (tmp_path / "keys").mkdir()
    key = dsse.write_keypair(tmp_path.parent / f"{tmp_path.name}-signing.pem", tmp_path / "keys" / "ml-ci.pub")
    overrides = {
        **image_overrides("attest-build"),
        "evaluate": {"metrics": ["accuracy"], "gates": [], "latency_samples": 1},
        "supply_chain": {"public_key": "keys/ml-ci.pub"},
    }
    path = exported_repo(tmp_path, overrides=overrides)
    sha = git_commit(tmp_path)
    assert main(["evaluate", "-c", str(path)]) == 0
    capsys.readouterr()
    assert main(["build", "-c", str(path)]) == 1  # the signing key is not set: nothing is built
    assert "ML_CI_SIGNING_KEY is not set" in capsys.readouterr().err
    assert not Layout(tmp_path).image_record.exists()
    monkeypatch.setenv("ML_CI_SIGNING_KEY", key.private_pem.decode())
    assert main(["build", "-c", str(path)]) == 0
    built = capsys.readouterr().out
    record = json.loads(Layout(tmp_path).image_record.read_text(encoding="utf-8"))
    try:
        assert f"attested {record['reference']}: SBOM sha256:" in built
        monkeypatch.delenv("ML_CI_SIGNING_KEY")  # verification needs the public key alone
        assert main(["verify", "-c", str(path), record["reference"], "--commit", sha]) == 0
        out = capsys.readouterr().out
        assert f"provenance: commit {sha}, ml.yaml sha256:{file_sha256(path)}, eval verdict pass" in out
        subject = ImageRef(registry(), *record["reference"].split("/", 1)[1].split("@"))
        (sbom_ref,) = referrers.discover(subject, artifact_type=attest.SBOM_ARTIFACT_TYPE)
        components = {c["name"]: c for c in json.loads(content(sbom_ref))["components"]}
        model_sha = json.loads(Layout(tmp_path).model_record.read_text(encoding="utf-8"))["sha256"]
        assert components["/opt/model/model.onnx"]["hashes"][0]["content"] == model_sha.removeprefix("sha256:")
        assert "onnxruntime" in {name.lower() for name in components}
    finally:
        client = docker_ops.client()
        for image in client.images.list(name=record["repository"]):
            with contextlib.suppress(Exception):
                client.images.remove(image.id, force=True)
