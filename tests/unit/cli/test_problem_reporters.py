"""The reporters behind --format: GitHub workflow-command escaping, and JSON's shape."""

from __future__ import annotations

import io
import json

from ml_ci.errors import Problem
from ml_ci.report.problems import REPORTERS


def _render(fmt: str, problems: list[Problem]) -> str:
    out = io.StringIO()
    REPORTERS[fmt](problems, out)
    return out.getvalue()


def test_github_escapes_data_and_properties() -> None:
    # A file name with ':' and ',' would end the property; '%' and a newline would end the message.
    problem = Problem("a,b:c/ml.yaml", 3, 7, "train.epochs", "100% wrong\nsecond line")
    assert _render("github", [problem]) == (
        "::error file=a%2Cb%3Ac/ml.yaml,line=3,col=7,title=ml.yaml train.epochs::train.epochs: 100%25 wrong%0Asecond line\n"
    )


def test_github_warning_without_position() -> None:
    problem = Problem("ml.yaml", 0, 0, "", "file is empty", "warning")
    assert _render("github", [problem]) == "::warning file=ml.yaml,title=ml.yaml::file is empty\n"


def test_text_names_file_line_column_and_path() -> None:
    problems = [
        Problem("ml.yaml", 12, 5, "train.learning_rate", "-1 is less than the minimum 0"),
        Problem("ml.yaml", 0, 0, "", "no such file", "error"),
        Problem("ml.yaml", 2, 1, "data.test", "missing", "warning"),
    ]
    assert _render("text", problems) == (
        "ml.yaml:12:5: train.learning_rate: -1 is less than the minimum 0\n"
        "ml.yaml: no such file\n"
        "ml.yaml:2:1: warning: data.test: missing\n"
    )


def test_json_is_valid_only_without_errors() -> None:
    warning = Problem("ml.yaml", 2, 1, "data.test", "missing", "warning")
    assert json.loads(_render("json", [warning]))["valid"] is True
    error = Problem("ml.yaml", 2, 1, "name", "bad")
    assert json.loads(_render("json", [warning, error])) == {
        "valid": False,
        "problems": [
            {"file": "ml.yaml", "line": 2, "column": 1, "path": "data.test", "message": "missing", "severity": "warning"},
            {"file": "ml.yaml", "line": 2, "column": 1, "path": "name", "message": "bad", "severity": "error"},
        ],
    }
