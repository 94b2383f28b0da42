"""The image's provenance (ml_ci.supply.provenance): an in-toto statement with an SLSA v1 predicate, the same
bytes for the same inputs, gathered from a model repository's records and read back by a verifier."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci.errors import DeployError, OperationalError
from ml_ci.pipeline.layout import Layout
from ml_ci.provenance import GitInfo
from ml_ci.records import image as image_record
from ml_ci.records.image import ImageRecord
from ml_ci.supply import provenance
from ml_ci.supply.provenance import (
    BaseModelRef,
    Builder,
    Claims,
    DataSplit,
    Evaluation,
    ProvenanceInputs,
    Source,
    Subject,
)

IMAGE = "sha256:" + "ab" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"
H1, H2, H3, H4, H5 = ("1" * 64, "2" * 64, "3" * 64, "4" * 64, "5" * 64)


def inputs(**changes: Any) -> ProvenanceInputs:
    values: dict[str, Any] = {
        "subject": Subject(name="127.0.0.1:5000/sentiment", digest=IMAGE),
        "config_path": "ml.yaml",
        "config_sha256": "sha256:" + H1,
        "source": Source(commit=COMMIT, repository="https://github.com/acme/sentiment", ref="refs/heads/main"),
        "data": (
            DataSplit(role="train", fingerprint="sha256:" + H2, source="data/train.csv"),
            DataSplit(role="test", fingerprint="hub:glue/sst2[test]@abc", source="hub:glue"),
        ),
        "base_model": BaseModelRef(spec="org/bert", revision="c" * 40, identity=f"hub:org/bert@{'c' * 40}"),
        "model_sha256": H3,
        "evaluation": Evaluation(path=".ml-ci/artifacts/evaluate/eval.json", sha256=H4, verdict="pass"),
        "sbom_sha256": "sha256:" + H5,
        "builder": Builder(id="pkg:pypi/ml-ci@0.1.0", version={"ml-ci": "0.1.0"}),
        "source_date_epoch": 1_700_000_000,
    }
    values.update(changes)
    return ProvenanceInputs(**values)


def deps(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in statement["predicate"]["buildDefinition"]["resolvedDependencies"]}


def test_the_statement_names_the_image_as_its_subject() -> None:
    s = provenance.statement(inputs())
    assert s["_type"] == "https://in-toto.io/Statement/v1"
    assert s["predicateType"] == "https://slsa.dev/provenance/v1"
    assert s["subject"] == [{"name": "127.0.0.1:5000/sentiment", "digest": {"sha256": "ab" * 32}}]


def test_external_parameters_are_ml_yaml_and_the_source() -> None:
    definition = provenance.statement(inputs())["predicate"]["buildDefinition"]
    assert definition["buildType"] == provenance.BUILD_TYPE
    assert definition["externalParameters"] == {
        "config": {"path": "ml.yaml", "digest": {"sha256": H1}},
        "source": {"repository": "https://github.com/acme/sentiment", "commit": COMMIT, "ref": "refs/heads/main"},
    }
    assert definition["internalParameters"]["sourceDateEpoch"] == 1_700_000_000


def test_resolved_dependencies() -> None:
    found = deps(provenance.statement(inputs()))
    assert list(found) == ["source", "ml.yaml", "data/test", "data/train", "base-model", "model", "evaluation"]
    assert found["source"] == {
        "name": "source",
        "uri": "git+https://github.com/acme/sentiment@refs/heads/main",
        "digest": {"gitCommit": COMMIT},
    }
    assert found["ml.yaml"] == {"name": "ml.yaml", "digest": {"sha256": H1}}
    assert found["data/train"] == {
        "name": "data/train",
        "uri": "data/train.csv",
        "digest": {"sha256": H2},
        "annotations": {"fingerprint": "sha256:" + H2},
    }
    # A hub split has no file digest: its coordinates are its fingerprint.
    assert found["data/test"] == {
        "name": "data/test",
        "uri": "hub:glue",
        "annotations": {"fingerprint": "hub:glue/sst2[test]@abc"},
    }
    assert found["base-model"]["digest"] == {"gitCommit": "c" * 40}
    assert found["base-model"]["uri"] == f"hub:org/bert@{'c' * 40}"
    assert found["model"] == {"name": "model", "digest": {"sha256": H3}}
    assert found["evaluation"] == {
        "name": "evaluation",
        "uri": ".ml-ci/artifacts/evaluate/eval.json",
        "digest": {"sha256": H4},
        "annotations": {"verdict": "pass"},
    }


def test_a_base_model_folder_is_named_by_its_sha256() -> None:
    folder = BaseModelRef(spec="./models/base", revision=None, identity="sha256:" + H2)
    found = deps(provenance.statement(inputs(base_model=folder)))["base-model"]
    assert found == {
        "name": "base-model",
        "uri": "./models/base",
        "digest": {"sha256": H2},
        "annotations": {"spec": "./models/base", "identity": "sha256:" + H2},
    }


def test_run_details_name_the_builder_the_times_and_the_sbom() -> None:
    run = provenance.statement(inputs(started_on=1_700_000_000, finished_on=1_700_000_095))["predicate"]["runDetails"]
    assert run["builder"] == {"id": "pkg:pypi/ml-ci@0.1.0", "version": {"ml-ci": "0.1.0"}}
    assert run["metadata"] == {"startedOn": "2023-11-14T22:13:20Z", "finishedOn": "2023-11-14T22:14:55Z"}
    assert run["byproducts"] == [{"name": "sbom", "digest": {"sha256": H5}, "mediaType": "application/vnd.cyclonedx+json"}]
    bare = provenance.statement(inputs(sbom_sha256=None))["predicate"]["runDetails"]
    assert "metadata" not in bare and "byproducts" not in bare


def test_without_git_the_statement_names_no_commit() -> None:
    s = provenance.statement(inputs(source=None))
    assert "source" not in s["predicate"]["buildDefinition"]["externalParameters"]
    assert "source" not in deps(s)
    assert provenance.read_statement(provenance.statement_bytes(inputs(source=None)), "x").commit is None


def test_same_inputs_give_the_same_bytes_and_each_input_changes_them() -> None:
    first = provenance.statement_bytes(inputs())
    assert provenance.statement_bytes(inputs(data=tuple(reversed(inputs().data)))) == first
    assert first == json.dumps(json.loads(first), sort_keys=True, separators=(",", ":")).encode()
    changed = [
        inputs(subject=Subject(name="127.0.0.1:5000/sentiment", digest="sha256:" + "cd" * 32)),
        inputs(config_sha256="sha256:" + H2),
        inputs(source=Source(commit="f" * 40, repository="https://github.com/acme/sentiment", ref="refs/heads/main")),
        inputs(data=inputs().data[:1]),
        inputs(evaluation=dataclasses.replace(inputs().evaluation, verdict="fail")),  # type: ignore[type-var]
        inputs(sbom_sha256="sha256:" + H1),
        inputs(source_date_epoch=1),
    ]
    assert all(provenance.statement_bytes(c) != first for c in changed)


def test_a_subject_that_is_not_a_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="'latest' is not an image digest"):
        provenance.statement(inputs(subject=Subject(name="img", digest="latest")))


def test_builder_in_github_actions_is_the_workflow() -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/sentiment",
        "GITHUB_WORKFLOW_REF": "acme/sentiment/.github/workflows/ml-ci-release.yml@refs/heads/main",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "2",
    }
    b = provenance.builder(env)
    assert b.id == "https://github.com/acme/sentiment/.github/workflows/ml-ci-release.yml@refs/heads/main"
    assert b.invocation_id == "https://github.com/acme/sentiment/actions/runs/42/attempts/2"


def test_builder_elsewhere_is_ml_ci_itself() -> None:
    from ml_ci import __version__

    for env in ({}, {"GITHUB_WORKFLOW_REF": "a/b/.github/workflows/x.yml@refs/heads/main"}):
        b = provenance.builder(env)
        assert (b.id, dict(b.version), b.invocation_id) == (f"pkg:pypi/ml-ci@{__version__}", {"ml-ci": __version__}, None)


def write_repo(root: Path, *, pushed: bool = True, verdict: str = "pass") -> Path:
    layout = Layout(root)
    config = root / "ml.yaml"
    config.write_text("version: 1\nname: sentiment\n")
    record = ImageRecord(
        repository="127.0.0.1:5000/sentiment",
        tags=(COMMIT,),
        image_id="sha256:" + "ee" * 32,
        size=1,
        labels={},
        source_date_epoch=1_700_000_000,
        verification={},
        pushed=pushed,
        digest=IMAGE if pushed else None,
        reference=f"127.0.0.1:5000/sentiment@{IMAGE}" if pushed else f"127.0.0.1:5000/sentiment:{COMMIT}",
    )
    layout.image_record.parent.mkdir(parents=True)
    image_record.write(layout.image_record, record)
    layout.lineage.parent.mkdir(parents=True)
    layout.lineage.write_text(
        json.dumps(
            {
                "data": {
                    "train": {"source": "data/train.csv", "fingerprint": "sha256:" + H2},
                    "validation": {"source": "data/dev.csv", "fingerprint": "sha256:" + H3},
                },
                "base_model": {"spec": "./base", "revision": None, "identity": "sha256:" + H4},
            }
        )
    )
    layout.eval_record.parent.mkdir(parents=True)
    layout.eval_record.write_text(json.dumps({"kind": "ml-ci/eval", "verdict": verdict}))
    layout.model_record.parent.mkdir(parents=True)
    layout.model_record.write_text(json.dumps({"sha256": H5}))
    return config


GIT = GitInfo(sha=COMMIT, source="https://github.com/acme/sentiment", timestamp=1_600_000_000)


def test_gather_reads_the_records_of_a_model_repository(tmp_path: Path) -> None:
    config = write_repo(tmp_path)
    got = provenance.gather(config, env={"GITHUB_REF": "refs/heads/main"}, sbom_sha256="sha256:" + H1, git=GIT)
    assert got.subject == Subject(name="127.0.0.1:5000/sentiment", digest=IMAGE)
    assert got.config_path == "ml.yaml"
    assert got.config_sha256 == hashlib.sha256(config.read_bytes()).hexdigest()
    assert got.source == Source(commit=COMMIT, repository="https://github.com/acme/sentiment", ref="refs/heads/main")
    assert [(d.role, d.fingerprint, d.source) for d in got.data] == [
        ("train", "sha256:" + H2, "data/train.csv"),
        ("validation", "sha256:" + H3, "data/dev.csv"),
    ]
    assert got.base_model == BaseModelRef(spec="./base", revision=None, identity="sha256:" + H4)
    assert got.model_sha256 == H5
    eval_bytes = Layout(tmp_path).eval_record.read_bytes()
    assert got.evaluation == Evaluation(
        path=".ml-ci/artifacts/evaluate/eval.json", sha256=hashlib.sha256(eval_bytes).hexdigest(), verdict="pass"
    )
    assert got.source_date_epoch == 1_700_000_000  # the image's epoch, which the build stamped it with
    assert got.sbom_sha256 == "sha256:" + H1
    provenance.statement(got)  # a complete statement comes of it


def test_gather_without_optional_records_leaves_their_part_out(tmp_path: Path) -> None:
    config = write_repo(tmp_path)
    layout = Layout(tmp_path)
    for path in (layout.lineage, layout.eval_record, layout.model_record):
        path.unlink()
    got = provenance.gather(config, env={}, git=GitInfo())
    assert (got.data, got.base_model, got.evaluation, got.model_sha256, got.source) == ((), None, None, None, None)


def test_gather_refuses_an_image_that_was_not_pushed(tmp_path: Path) -> None:
    config = write_repo(tmp_path, pushed=False)
    with pytest.raises(
        OperationalError, match="the image was built but not pushed; its provenance names it by its registry digest"
    ):
        provenance.gather(config, env={}, git=GIT)


def test_gather_with_a_subject_takes_the_epoch_from_the_environment(tmp_path: Path) -> None:
    config = write_repo(tmp_path)
    subject = Subject(name="reg/other", digest="sha256:" + H1)
    got = provenance.gather(config, env={"SOURCE_DATE_EPOCH": "12"}, subject=subject, git=GIT)
    assert (got.subject, got.source_date_epoch) == (subject, 12)
    assert provenance.gather(config, env={}, subject=subject, git=GIT).source_date_epoch == 1_600_000_000


def test_read_statement_gives_back_what_a_verifier_checks() -> None:
    claims = provenance.read_statement(provenance.statement_bytes(inputs()), "provenance")
    assert claims == Claims(
        subjects=(Subject(name="127.0.0.1:5000/sentiment", digest=IMAGE),),
        commit=COMMIT,
        config_sha256="sha256:" + H1,
        evaluation_sha256="sha256:" + H4,
        verdict="pass",
        sbom_sha256="sha256:" + H5,
        builder_id="pkg:pypi/ml-ci@0.1.0",
    )
    bare = provenance.read_statement(provenance.statement_bytes(inputs(evaluation=None, sbom_sha256=None)), "p")
    assert (bare.verdict, bare.evaluation_sha256, bare.sbom_sha256) == (None, None, None)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{", "^img: the provenance is not JSON"),
        (b'{"_type": "x"}', r"^img: not an in-toto statement \(https://in-toto.io/Statement/v1\): _type is 'x'$"),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v0.2"}',
            "^img: its predicateType is 'https://slsa.dev/provenance/v0.2', not 'https://slsa.dev/provenance/v1'$",
        ),
        (
            b'{"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1", "subject": []}',
            "^img: the provenance is not one ml-ci writes",
        ),
    ],
)
def test_read_statement_refuses_what_is_not_ml_ci_provenance(payload: bytes, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        provenance.read_statement(payload, "img")


def test_a_signed_statement_round_trip() -> None:
    """What the release job signs is what a deploy job reads back, once the key verifies it."""
    from ml_ci.supply import dsse

    pair = dsse.generate_keypair()
    envelope = dsse.sign(provenance.statement_bytes(inputs()), dsse.signer_from_pem(pair.private_pem, "key"))
    payload = dsse.verify(envelope, dsse.public_key_from_pem(pair.public_pem, "key.pub"))
    claims = provenance.read_statement(payload, "provenance")
    assert (claims.commit, claims.verdict, claims.subjects[0].digest) == (COMMIT, "pass", IMAGE)


def test_gather_names_the_git_tag_outside_actions(tmp_path: Path) -> None:
    config = write_repo(tmp_path)
    tagged = dataclasses.replace(GIT, tag="v1.2.0")
    assert provenance.gather(config, env={}, git=tagged).source == Source(
        commit=COMMIT, repository="https://github.com/acme/sentiment", ref="refs/tags/v1.2.0"
    )
    assert provenance.gather(config, env={}, git=GIT).source == Source(commit=COMMIT, repository=GIT.source, ref=None)
