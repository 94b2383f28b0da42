"""The image plan without Docker: Dockerfile, requirements, tags, labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.build.plan import data_fingerprint, labels, make_plan, render_dockerfile, repository, requirements, tags
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.provenance import GitInfo
from ml_ci.records.model import ModelRecord
from tests.modelrepo import make_model_repo

MODEL = ModelRecord(
    name="m",
    task="text-classification",
    payload={"labels": ["negative", "positive"]},
    max_length=128,
    onnx="model.onnx",
    sha256="f" * 64,
    inputs=("input_ids", "attention_mask"),
    pad_id=0,
    source_sha256="e" * 64,
    quantize="none",
    ml_ci_version="0.1.0",
)


def config(tmp_path: Path, **image: str) -> Config:
    overrides = {"image": {"registry": "127.0.0.1:5000", "base": "ml-ci-base:bookworm", **image}, "serve": {"max_texts": 64}}
    return load_config(make_model_repo(tmp_path, overrides=overrides)).config


def test_dockerfile_from_the_configured_base_with_stable_layers_first(tmp_path: Path) -> None:
    text = render_dockerfile(config(tmp_path))
    lines = [line.strip() for line in text.splitlines()]
    assert "FROM ml-ci-base:bookworm" in lines
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(p))
        for p in ("FROM", "COPY requirements.txt", "COPY model/", "COPY app/", "USER 10001:10001", "ENTRYPOINT")
    ]
    assert order == sorted(order), "runtime, then model, then code: a code-only change reuses the model layer"
    assert "ML_CI_SERVE_MAX_TEXTS=64 \\" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "torch" not in "".join(line for line in lines if not line.startswith("#"))


def test_requirements_pin_what_is_known() -> None:
    assert requirements({"onnxruntime": "1.2.3", "numpy": "2.0.0"}) == "onnxruntime==1.2.3\nnumpy==2.0.0\nprometheus_client\n"


def test_tokenizers_comes_without_the_hub_client(tmp_path: Path) -> None:
    text = render_dockerfile(config(tmp_path), {"tokenizers": "0.9.9"})
    assert "--no-deps tokenizers==0.9.9 \\" in text


def test_repository_defaults_to_the_name(tmp_path: Path) -> None:
    assert repository(config(tmp_path / "a")) == "127.0.0.1:5000/tiny-sentiment"
    assert repository(config(tmp_path / "b", repository="acme/sentiment")) == "127.0.0.1:5000/acme/sentiment"


@pytest.mark.parametrize(
    ("git", "extra", "expected"),
    [
        (GitInfo(sha="a" * 40), (), ("a" * 40,)),
        (GitInfo(sha="a" * 40, tag="v1.2.3"), ("latest",), ("a" * 40, "1.2.3", "latest")),
        (GitInfo(sha="a" * 40, tag="release-7"), (), ("a" * 40,)),
        (GitInfo(), (), ("model-ffffffffffff",)),
    ],
)
def test_tags(git: GitInfo, extra: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert tags(git, "f" * 64, extra) == expected


def test_an_invalid_tag_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid image tag"):
        tags(GitInfo(), "f" * 64, ("no/slashes",))


def test_labels_carry_oci_annotations_and_the_model(tmp_path: Path) -> None:
    git = GitInfo(sha="a" * 40, tag="v2.0.0", source="https://github.com/acme/m")
    out = labels(
        config(tmp_path), git, MODEL, created="2026-01-01T00:00:00+00:00", data_fingerprint="d" * 16, metrics={"accuracy": 0.9}
    )
    assert out["org.opencontainers.image.source"] == "https://github.com/acme/m"
    assert out["org.opencontainers.image.revision"] == "a" * 40
    assert out["org.opencontainers.image.version"] == "2.0.0"
    assert out["org.opencontainers.image.created"] == "2026-01-01T00:00:00+00:00"
    assert out["io.ml-ci.model.sha256"] == "f" * 64
    assert out["io.ml-ci.data.fingerprint"] == "d" * 16
    assert json.loads(out["io.ml-ci.metrics"]) == {"accuracy": 0.9}
    # The task's own (text-classification's label names) sit where they always did: the order is build.json's.
    assert out["io.ml-ci.model.labels"] == "negative,positive"
    assert list(out) == [
        "org.opencontainers.image.title",
        "org.opencontainers.image.created",
        "org.opencontainers.image.version",
        "io.ml-ci.model.sha256",
        "io.ml-ci.model.source-sha256",
        "io.ml-ci.model.quantize",
        "io.ml-ci.model.labels",
        "io.ml-ci.metrics",
        "io.ml-ci.version",
        "org.opencontainers.image.source",
        "org.opencontainers.image.revision",
        "io.ml-ci.data.fingerprint",
    ]


def test_labels_without_git(tmp_path: Path) -> None:
    out = labels(config(tmp_path), GitInfo(), MODEL, created="c", data_fingerprint=None, metrics={})
    assert out["org.opencontainers.image.version"] == "f" * 12
    assert not {"org.opencontainers.image.source", "org.opencontainers.image.revision", "io.ml-ci.data.fingerprint"} & set(out)


@pytest.mark.parametrize(
    ("lineage", "report", "expected"),
    [
        ({"data_fingerprint": "x1"}, {"fingerprint": "y"}, "x1"),
        ({"data": {"fingerprint": "x2"}}, None, "x2"),
        ({"data": {"train": {"source": "data/train.csv", "fingerprint": "x3"}}}, {"data_fingerprint": "y"}, "x3"),
        ({"git": {}}, {"data_fingerprint": "y"}, "y"),
        (None, {"fingerprint": "y"}, "y"),
        (None, None, None),
    ],
)
def test_data_fingerprint(lineage: object, report: object, expected: str | None) -> None:
    assert data_fingerprint(lineage, report) == expected


def test_make_plan_references(tmp_path: Path) -> None:
    plan = make_plan(
        config(tmp_path, repository="acme/m"),
        git=GitInfo(sha="b" * 40),
        model=MODEL,
        pins={},
        epoch=0,
        data_fingerprint=None,
        metrics={},
        extra_tags=("edge",),
    )
    assert plan.references == (f"127.0.0.1:5000/acme/m:{'b' * 40}", "127.0.0.1:5000/acme/m:edge")


def test_the_runtimes_dependencies_are_pinned_to_what_is_installed() -> None:
    """Unpinned, pip resolved onnxruntime's protobuf & co. at build time: a new release of one made a new image."""
    from ml_ci.build.plan import dependency_pins

    installed = {
        "onnxruntime": (
            "1.2.3",
            ["flatbuffers", "numpy>=1.21", "Protobuf>=4", 'sympy; extra == "symbolic"', 'colorama; sys_platform == "win32"'],
        ),
        "protobuf": ("5.0.0", []),
        "flatbuffers": ("25.1", ["onnxruntime"]),
        "numpy": ("2.0.0", []),
        "prometheus_client": ("0.20.0", ['twisted; extra == "twisted"']),
        "sympy": ("1.0", []),
        "colorama": ("0.4", []),
    }
    pins = dependency_pins(("onnxruntime", "prometheus_client"), installed)
    assert pins == {"flatbuffers": "25.1", "numpy": "2.0.0", "protobuf": "5.0.0"}, "no extras, no other platform's"
    assert (
        requirements({"onnxruntime": "1.2.3"}, {"protobuf": "5.0.0", "flatbuffers": "25.1"})
        == "onnxruntime==1.2.3\nnumpy\nprometheus_client\nflatbuffers==25.1\nprotobuf==5.0.0\n"
    )
