"""The build context holds the Dockerfile, the pins, the model files and the server's code, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.build.context import MODEL_FILES, write_context
from ml_ci.build.plan import BuildPlan
from ml_ci.errors import OperationalError

PLAN = BuildPlan(repository="r/m", tags=("t",), dockerfile="FROM x\n", requirements="numpy\n")


def test_the_whole_tree(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for name in (*MODEL_FILES, "parity.json"):
        (export / name).write_text(name)
    target = tmp_path / "ctx"
    write_context(PLAN, export, target)
    files = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    package = Path(__file__).parents[3] / "ml_ci"
    serve = {f"app/ml_ci/serve/{p.name}" for p in (package / "serve").glob("*.py")}
    # The server's other modules: the model record, the task registry and each task's serving half.
    others = {
        "__init__.py",
        "errors.py",
        "atomic.py",
        "records/__init__.py",
        "records/model.py",
        "records/texts.py",
        "tasks/__init__.py",
    }
    others |= {"tasks/task.py", "tasks/text_classification/__init__.py", "tasks/text_classification/serving.py"}
    # token-classification's serving half runs two more modules of its package: the word splitter and the decoding.
    others |= {f"tasks/token_classification/{name}" for name in ("__init__.py", "serving.py", "words.py", "decode.py")}
    # text-generation's: the runtime, the engine that batches it and its metrics, the OpenAI API and chat templates.
    others |= {
        f"tasks/text_generation/{name}"
        for name in ("__init__.py", "serving.py", "runtime.py", "engine.py", "metrics.py", "openai_api.py", "chat_template.py")
    }
    app = {f"app/ml_ci/{name}" for name in others}
    assert files == {"Dockerfile", "requirements.txt", *app, *serve, *(f"model/{n}" for n in MODEL_FILES)}
    assert all(p.stat().st_mode & 0o004 for p in target.rglob("*")), "readable by the image's non-root user"


def test_a_missing_export_is_named(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match=r"model\.onnx, tokenizer\.json, model\.json, golden\.json missing; run `ml-ci"):
        write_context(PLAN, tmp_path, tmp_path / "ctx")


def test_every_file_carries_the_builds_epoch_not_when_the_checkout_was_edited(tmp_path: Path) -> None:
    """The classic builder copies mtimes into the image: a server file edited an hour later changed the digest."""
    import dataclasses

    export = tmp_path / "export"
    export.mkdir()
    for name in MODEL_FILES:
        (export / name).write_text(name)
    target = tmp_path / "ctx"
    write_context(dataclasses.replace(PLAN, epoch=1_767_225_600), export, target)
    assert {int(p.stat().st_mtime) for p in (target, *target.rglob("*"))} == {1_767_225_600}
