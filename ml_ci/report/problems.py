"""Print config problems as text, JSON, or GitHub workflow commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TextIO

from ml_ci.errors import Problem
from ml_ci.github.actions_io import escape_data, escape_property


def text(problems: Sequence[Problem], out: TextIO) -> None:
    for p in problems:
        print(p, file=out)


def as_json(problems: Sequence[Problem], out: TextIO) -> None:
    json.dump(
        {
            "valid": not any(p.severity == "error" for p in problems),
            "problems": [
                {"file": p.file, "line": p.line, "column": p.col, "path": p.path, "message": p.message, "severity": p.severity}
                for p in problems
            ],
        },
        out,
        indent=2,
    )
    out.write("\n")


def github(problems: Sequence[Problem], out: TextIO) -> None:
    for p in problems:
        level = "warning" if p.severity == "warning" else "error"
        props = f"file={escape_property(p.file)}"
        if p.line:
            props += f",line={p.line},col={p.col}"
        title = f"ml.yaml {p.path}" if p.path else "ml.yaml"
        msg = f"{p.path}: {p.message}" if p.path else p.message
        print(f"::{level} {props},title={escape_property(title)}::{escape_data(msg)}", file=out)


REPORTERS: dict[str, Callable[[Sequence[Problem], TextIO], None]] = {"text": text, "json": as_json, "github": github}
