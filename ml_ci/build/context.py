"""The build context: Dockerfile, requirements, the exported model and the server's source only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import ml_ci
from ml_ci.build.plan import BuildPlan
from ml_ci.errors import OperationalError

# What the image needs of `ml-ci export`; parity.json stays out (it is about the build, not the serving).
MODEL_FILES = ("model.onnx", "tokenizer.json", "model.json", "golden.json")


def write_context(plan: BuildPlan, export_dir: Path, target: Path) -> None:
    missing = [f for f in MODEL_FILES if not (export_dir / f).is_file()]
    if missing:
        raise OperationalError(f"{export_dir}: {', '.join(missing)} missing; run `ml-ci export` first")
    target.mkdir(parents=True, exist_ok=True)
    (target / "Dockerfile").write_text(plan.dockerfile, encoding="utf-8")
    (target / "requirements.txt").write_text(plan.requirements, encoding="utf-8")
    model = target / "model"
    model.mkdir()
    for name in MODEL_FILES:
        shutil.copyfile(export_dir / name, model / name)
    package = Path(ml_ci.__file__).parent
    app = target / "app" / "ml_ci"
    shutil.copytree(package / "serve", app / "serve", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copyfile(package / "__init__.py", app / "__init__.py")
    # Docker copies modes and mtimes as they are: world-readable, so that the image's non-root user can
    # read them; the build's epoch, since a checkout's mtimes say when it was edited or cloned, not what it holds.
    for path in sorted(target.rglob("*"), reverse=True):  # children before the folders their writes touch
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (plan.epoch, plan.epoch))
    os.utime(target, (plan.epoch, plan.epoch))
