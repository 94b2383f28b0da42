"""The server runs in a slim image: what the image copies of ml_ci (`server_sources`) may import only
the [serve] runtime, the stdlib and each other."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import tomllib

import ml_ci
from ml_ci import tasks
from ml_ci.build.context import server_sources

# onnxruntime_genai and jinja2 (its chat templates): text-generation's runtime, which the image installs for that task only
# (ServingHalf.RUNTIME)
ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime", "onnxruntime_genai", "tokenizers", "prometheus_client", "jinja2"}
PACKAGE = Path(ml_ci.__file__).parent


def imported_roots(path: Path) -> set[str]:
    """The modules path imports when it runs (what `if TYPE_CHECKING:` imports is for mypy only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    roots: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return roots


def copied() -> set[Path]:
    files: set[Path] = set()
    for source in server_sources():
        path = PACKAGE / source
        files.update(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return files


def in_image(module: str, files: set[Path]) -> bool:
    """A module of ml_ci the image holds (a package, or a module of one)."""
    relative = Path(*module.split(".")[1:])
    return PACKAGE / relative.with_suffix(".py") in files or PACKAGE / relative / "__init__.py" in files


def test_the_server_imports_only_the_serving_runtime() -> None:
    files = copied()
    offenders = {}
    for path in sorted(files):
        for name in imported_roots(path):
            root = name.split(".")[0]
            if root == "ml_ci" and name != "ml_ci":
                # `from ml_ci.records import model` names ml_ci.records.model: one of the two must be in the image.
                parent = name.rsplit(".", 1)[0]
                if not in_image(name, files) and not (parent != "ml_ci" and in_image(parent, files)):
                    offenders[path.relative_to(PACKAGE).as_posix()] = name  # e.g. ml_ci.config pulls in jsonschema and yaml
            elif root != "ml_ci" and root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY:
                offenders[path.relative_to(PACKAGE).as_posix()] = name
    assert offenders == {}


def test_the_image_holds_every_tasks_serving_half() -> None:
    files = {p.relative_to(PACKAGE).as_posix() for p in copied()}
    assert {"serve/server.py", "records/model.py", "tasks/__init__.py", "tasks/text_classification/serving.py"} <= files
    assert "tasks/text_classification/training.py" not in files, "torch's halves stay out"


def test_the_serve_extra_serves_every_task() -> None:
    """`pip install ml-ci[serve]` then `ml-ci serve` works for every task's export: the extra holds what each task's
    image installs beyond the generic runtime (ServingHalf.RUNTIME)."""
    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extra = {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in project["optional-dependencies"]["serve"]}
    for name in tasks.names():
        missing = set(tasks.get(name).serving().RUNTIME) - extra
        assert not missing, f"{name}'s serving runtime {sorted(missing)} is not in the [serve] extra"
