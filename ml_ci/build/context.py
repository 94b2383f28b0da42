"""The build context: Dockerfile, requirements, the exported model and the server's source only."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import ml_ci
from ml_ci.build.plan import BuildPlan
from ml_ci.errors import OperationalError

# What the image needs of `ml-ci export`; parity.json stays out (it is about the build, not the serving).
MODEL_FILES = ("model.onnx", "tokenizer.json", "model.json", "golden.json")


def server_sources() -> tuple[str, ...]:
    """What `python -m ml_ci.serve` runs of ml_ci, relative to the package: the server, the model record, the
    task registry and every task's serving half, and the two standard-library helpers they name
    (tests/unit/serve/test_slim_imports.py checks that these import nothing else)."""
    from ml_ci import tasks

    halves = [
        f"{package.removeprefix('ml_ci.').replace('.', '/')}/{name}"
        for package in tasks.REGISTRY.values()
        for name in ("__init__.py", "serving.py", *_own_modules(package))
    ]
    return (
        "__init__.py",
        "serve",
        "errors.py",
        "atomic.py",
        "records/__init__.py",
        "records/model.py",
        "records/texts.py",
        "tasks/__init__.py",
        "tasks/task.py",
        *halves,
    )


def _own_modules(package: str) -> list[str]:
    """The modules of a task's package that its serving half runs, through each other (e.g. how raw text is
    split into words), as file names; their names are read from the source, not imported (a task's other
    halves import torch, which the image has none of)."""
    folder = Path(ml_ci.__file__).parent / package.removeprefix("ml_ci.").replace(".", "/")
    found: list[str] = []
    pending = ["serving"]
    while pending:
        path = folder / f"{pending.pop()}.py"
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(n) for b in ast.walk(tree) if isinstance(b, ast.If) and "TYPE_CHECKING" in ast.unparse(b.test) for n in ast.walk(b)
        }
        for node in ast.walk(tree):
            names: list[str] = []
            if id(node) in typing_only:
                continue
            elif isinstance(node, ast.ImportFrom) and node.module == package:
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
                names = [(node.module or "").removeprefix(package + ".").split(".")[0]]
            for name in names:
                if name not in ("__init__", "serving") and f"{name}.py" not in found and (folder / f"{name}.py").is_file():
                    found.append(f"{name}.py")
                    pending.append(name)
    return sorted(found)


def write_context(plan: BuildPlan, export_dir: Path, target: Path, served: tuple[str, ...] = ()) -> None:
    """The build context: Dockerfile, requirements, the server's code and the model (MODEL_FILES, and the task's
    `served` files of the export folder, ExportHalf.SERVED_FILES, those the export wrote)."""
    missing = [f for f in MODEL_FILES if not (export_dir / f).is_file()]
    if missing:
        raise OperationalError(f"{export_dir}: {', '.join(missing)} missing; run `ml-ci export` first")
    target.mkdir(parents=True, exist_ok=True)
    (target / "Dockerfile").write_text(plan.dockerfile, encoding="utf-8")
    (target / "requirements.txt").write_text(plan.requirements, encoding="utf-8")
    model = target / "model"
    model.mkdir()
    for name in (*MODEL_FILES, *(f for f in served if (export_dir / f).is_file())):
        shutil.copyfile(export_dir / name, model / name)
    package = Path(ml_ci.__file__).parent
    app = target / "app" / "ml_ci"
    for source in server_sources():
        if (package / source).is_dir():
            shutil.copytree(package / source, app / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (app / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(package / source, app / source)
    # Docker copies modes and mtimes as they are: world-readable, so that the image's non-root user can
    # read them; the build's epoch, since a checkout's mtimes say when it was edited or cloned, not what it holds.
    for path in sorted(target.rglob("*"), reverse=True):  # children before the folders their writes touch
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (plan.epoch, plan.epoch))
    os.utime(target, (plan.epoch, plan.epoch))
