"""The grep bar of issue 14: no classification idea (labels, softmax, argmax, sequence-classification
classes, confusion, class balance and weights, the text and label columns) in ml_ci outside the task
packages. The generic records may name a task's payload in their docstrings.

`label` also means other things, which stay: each is allowed by an exact pattern of its file below.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ml_ci
from ml_ci import tasks

ROOT = Path(ml_ci.__file__).parent
TASK = ROOT / "tasks" / "text_classification"
RECORDS = ROOT / "records"

IDEAS = re.compile(
    r"softmax|argmax|SequenceClassification|confusion|per_class|class_weights|min_rows_per_class|max_class_imbalance"
    r"|class_balance|label_column|text_column|id2label|label2id|num_labels"
    r"|\.labels\b"  # an attribute: data.labels, a model's labels
    r"|\[\s*['\"]labels?['\"]\s*\]"  # a record's key read or written: manifest["labels"], row["label"]
    r"|['\"]labels?['\"]\s*:",  # a record's key in a literal: {"label": ...}
    re.IGNORECASE,
)

# path (relative to ml_ci) -> what a line there may say, each pattern an allowed use whole (removed from the
# line, in this order, before the line is searched).
ALLOWED: dict[str, list[str]] = {
    # Prometheus client: a counter's label values (errors_total{kind=...}, requests_total{route,status}).
    "serve/server.py": [r"\.metrics\.(errors|requests)\.labels\("],
    # Docker/OCI: the labels of a container (deploy's local target) and of an image (the registry's config
    # blob, the build plan's, written to build/image.json by its record).
    "deploy/local.py": [r"\bc\.labels\b"],
    "deploy/deployer.py": [r"\bregistry\.labels\("],
    "build/stage.py": [r"\bplan\.labels\b"],
    "records/image.py": [r"\"labels\":\s*self\.labels\b", r"\bdata\[\"labels\"\]"],
    # Kubernetes: object metadata labels.
    "deploy/manifests.py": [r"\"labels\":\s*common_labels\(", r"\[\"metadata\"\]\[\"labels\"\]"],
    "train/pytorchjob.py": [r"\"labels\":\s*\{\"app\.kubernetes\.io/"],
    # Prometheus alerting rules: a rule's labels (severity).
    "deploy/alerts.py": [r"\"labels\":\s*\{\*\*labels"],
    # actionlint's configuration: the self-hosted runner labels.
    "generate/lintconfig.py": [r"\{\"labels\":\s*list\(labels\)\}"],
}


def docstring_lines(tree: ast.Module) -> set[int]:
    """The lines of every docstring (module, class, function) of a module."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines |= set(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def task_packages(root: Path) -> list[Path]:
    """Each registered task's package: a task says what it is made of in its own words."""
    return [root.joinpath(*name.split(".")[1:]) for name in tasks.REGISTRY.values()]


def offenders(root: Path) -> list[str]:
    """Each line outside the task's package that names a classification idea, as path:line: text."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if any(path.is_relative_to(package) for package in task_packages(root)):
            continue
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        records_docs = docstring_lines(ast.parse(text)) if path.is_relative_to(root / "records") else set()
        allowed = ALLOWED.get(rel, [])
        for number, line in enumerate(text.splitlines(), 1):
            if number in records_docs:
                continue
            rest = line
            for pattern in allowed:
                rest = re.sub(pattern, "", rest)
            if IDEAS.search(rest):
                found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_no_classification_idea_outside_the_task() -> None:
    assert offenders(ROOT) == []


def test_the_bar_finds_what_it_is_about(tmp_path: Path) -> None:
    """The scanner sees each kind of idea, and an allowed use only where it is allowed."""
    (tmp_path / "stage.py").write_text(
        "probs = softmax(logits)\n"
        "best = probs.argmax(axis=1)\n"
        "from transformers import AutoModelForSequenceClassification\n"
        "m = confusion_matrix(y, p)\n"
        "n = len(config.data.labels)\n"
        'names = manifest["labels"]\n'
        'answer = {"label": name}\n'
        "w = config.train.class_weights\n"
        "self.app.metrics.errors.labels(kind).inc()\n"
        "count = 3\n",
        encoding="utf-8",
    )
    (tmp_path / "serve").mkdir()
    (tmp_path / "serve" / "server.py").write_text("self.app.metrics.errors.labels(kind).inc()\n", encoding="utf-8")
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "r.py").write_text('"""A task\'s payload: its `labels`, `per_class`."""\nx = r["labels"]\n')
    (tmp_path / "tasks" / "text_classification").mkdir(parents=True)
    (tmp_path / "tasks" / "text_classification" / "data.py").write_text("labels = data.labels\n", encoding="utf-8")
    assert [o.split(":")[:2] for o in offenders(tmp_path)] == [["records/r.py", "2"]] + [
        ["stage.py", str(n)] for n in range(1, 10)
    ]
