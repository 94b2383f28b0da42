"""The server runs in a slim image: its modules may import only the [serve] runtime and the stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ml_ci.serve

ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime", "tokenizers", "prometheus_client"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module)
    return roots


def test_serve_imports_only_the_serving_runtime() -> None:
    folder = Path(ml_ci.serve.__file__).parent
    offenders = {}
    for path in sorted(folder.glob("*.py")):
        for name in imported_roots(path):
            root = name.split(".")[0]
            if name.startswith("ml_ci.") and not name.startswith("ml_ci.serve"):
                offenders[path.name] = name  # e.g. ml_ci.config pulls in jsonschema and yaml
            elif root != "ml_ci" and root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY:
                offenders[path.name] = name
    assert offenders == {}
