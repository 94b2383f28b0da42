"""image.accelerator: the CPU images are byte for byte what they were before the key existed, and a cuda image
installs onnxruntime's CUDA builds with the CUDA libraries from PyPI and tells the server to run on the GPU.

The golden files (tests/golden/images/<accelerator>/: the Dockerfile and each task's requirements) are rendered
with fixed pins, so that they change only when the template or the plan does; the cpu ones were rendered before
image.accelerator existed. ML_CI_UPDATE_GOLDEN=1 rewrites them after an intended change: review the diff."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from ml_ci.build.plan import CUDA_FOR, flavour, make_plan, render_dockerfile, requirements, runtime
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.export.stage import installed_versions
from ml_ci.provenance import GitInfo
from tests.modelrepo import make_model_repo
from tests.unit.build.test_plan import MODEL

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "images"
PINS = {
    "onnxruntime": "1.32.0",
    "onnxruntime-genai": "0.18.0",
    "jinja2": "3.1.6",  # text-generation's chat templates
    "tokenizers": "0.23.3",
    "numpy": "2.4.6",
    "prometheus_client": "0.26.0",
}
DEPENDENCIES = {"flatbuffers": "25.12.19", "packaging": "26.4", "protobuf": "7.36.2"}
TASKS = ("text-classification", "text-generation")


def config(tmp_path: Path, task: str, accelerator: str | None) -> Config:
    base = load_config(
        make_model_repo(tmp_path, overrides={"image": {"registry": "127.0.0.1:5000", "base": "ml-ci-base:bookworm"}})
    ).config
    return dataclasses.replace(base, task=task, image=dataclasses.replace(base.image, accelerator=accelerator))


def rendered(c: Config) -> dict[str, str]:
    """The files of the image that the golden folder keeps: the Dockerfile (one for every task) and the task's
    requirements."""
    return {
        "Dockerfile": render_dockerfile(c, PINS),
        f"requirements-{c.task}.txt": requirements(*flavour(c.image.accelerator, PINS, DEPENDENCIES, runtime(c.task))),
    }


@pytest.mark.parametrize("accelerator", [None, "cpu", "cuda"])
@pytest.mark.parametrize("task", TASKS)
def test_the_image_files_are_the_golden_ones(tmp_path: Path, task: str, accelerator: str | None) -> None:
    folder = GOLDEN / (accelerator or "cpu")
    files = rendered(config(tmp_path, task, accelerator))
    if os.environ.get("ML_CI_UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    for name, text in files.items():
        assert text == (folder / name).read_text(encoding="utf-8"), f"{folder.name}/{name} (ML_CI_UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize("task", TASKS)
def test_cuda_swaps_the_cpu_builds_for_the_cuda_ones_and_sets_the_device(tmp_path: Path, task: str) -> None:
    cpu, cuda = rendered(config(tmp_path / "cpu", task, None)), rendered(config(tmp_path / "cuda", task, "cuda"))
    lines = cuda[f"requirements-{task}.txt"].splitlines()
    assert "onnxruntime-gpu[cuda,cudnn]==1.31.1" in lines
    assert not any(line.startswith(("onnxruntime==", "onnxruntime-genai==")) for line in lines), "a CPU build beside the CUDA one"
    assert ("onnxruntime-genai-cuda==0.18.0" in lines) == (task == "text-generation")
    assert {"nvidia-cudnn-cu13==9.28.1.4", "nvidia-cuda-runtime==13.5.37", "protobuf==7.36.2"} <= set(lines)
    assert all("==" in line for line in lines), "every requirement pinned"
    assert cuda["Dockerfile"].count("ML_CI_SERVE_DEVICE=cuda") == 1
    assert cuda["Dockerfile"].replace(" \\\n    ML_CI_SERVE_DEVICE=cuda", "") == cpu["Dockerfile"], (
        "the device is all that differs"
    )


def test_the_plan_builds_the_flavour_the_config_asks(tmp_path: Path) -> None:
    git = GitInfo(sha="a" * 40, tag=None, source=None, timestamp=None)
    plans = {
        a: make_plan(
            config(tmp_path / str(a), "text-classification", a),
            git=git,
            model=MODEL,
            pins=PINS,
            epoch=0,
            data_fingerprint=None,
            metrics={},
            dependencies=DEPENDENCIES,
        )
        for a in (None, "cuda")
    }
    assert "onnxruntime==1.32.0" in plans[None].requirements.splitlines()
    assert "onnxruntime-gpu[cuda,cudnn]==1.31.1" in plans["cuda"].requirements.splitlines()
    assert "ML_CI_SERVE_DEVICE=cuda" in plans["cuda"].dockerfile and "ML_CI_SERVE_DEVICE" not in plans[None].dockerfile
    assert plans[None].labels == plans["cuda"].labels  # the same OCI labels


def test_an_unknown_accelerator_is_refused() -> None:
    with pytest.raises(ValueError, match="'rocm' is not one of cpu, cuda"):
        flavour("rocm", PINS, DEPENDENCIES, runtime("text-classification"))


def test_the_cuda_pins_were_resolved_for_the_cpu_runtime_installed_here() -> None:
    """The CUDA builds are not installed here: their pins are kept in plan.py for a CPU runtime. When onnxruntime
    or onnxruntime-genai moves, resolve them again (pip install --dry-run --report for onnxruntime-gpu[cuda,cudnn]
    and onnxruntime-genai-cuda) and update CUDA_FOR, CUDA_PINS and CUDA_LIBRARIES together."""
    assert installed_versions(tuple(CUDA_FOR)) == CUDA_FOR
