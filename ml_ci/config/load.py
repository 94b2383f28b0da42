"""ml.yaml -> typed Config, or every problem at once.

`check_file` validates without building the typed Config (validate, the pre-commit hook, needs no
more, and the model's thirty dataclasses cost more to create than the whole check); `load_config`
does both.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci import __version__
from ml_ci.config import by_task, defaults, hygiene, semantics
from ml_ci.config.schema_errors import messages, show
from ml_ci.config.validator import iter_errors
from ml_ci.config.yamlfile import MAX_BYTES, Document
from ml_ci.config.yamlfile import load as load_yaml
from ml_ci.errors import ConfigError, OperationalError, Problem
from ml_ci.resources import schema

if TYPE_CHECKING:
    from ml_ci.config.model import Config

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checked:
    """A valid ml.yaml: its data with the schema's defaults filled in, and its warnings."""

    path: Path
    data: dict[str, Any]
    warnings: tuple[Problem, ...]
    document: Document


@dataclass(frozen=True)
class Loaded:
    config: Config
    warnings: tuple[Problem, ...]
    document: Document


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _check_version(doc: Document) -> None:
    """Checked before any other key: a newer file should say so, not fail on unknown keys."""
    data = doc.data
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"the text {show(data)}" if isinstance(data, str) else show(data)
        raise ConfigError(
            [doc.problem((), f"the top level must be a mapping of keys (version: 1, name: ..., data: ...), not {kind}")]
        )
    if "version" not in data:
        raise ConfigError(
            [doc.problem((), f"missing required key 'version': write `version: {FORMAT_VERSION}` as the first line")]
        )
    version = data["version"]
    raw, style = doc.raw.get(("version",), (None, None))
    needed = data.get("min_ml_ci_version")
    try:
        too_old = isinstance(needed, str) and _version_tuple(needed) > _version_tuple(__version__)
    except ValueError:
        too_old = False  # the schema reports the malformed value
    upgrade = f"pip install -U 'ml-ci>={needed}'" if too_old else "pip install -U ml-ci"
    if isinstance(version, bool) or not isinstance(version, int):
        if isinstance(version, float) and raw is not None and style is None:
            msg = f"{raw} was read as the number {version}; version is a whole number: write `version: {FORMAT_VERSION}`"
        elif isinstance(version, str) and style is not None and version.isdigit():
            msg = f"{show(version)} is text; version is a whole number: write `version: {version}` without quotes"
        else:
            msg = f"{show(version)} is not a format version; write `version: {FORMAT_VERSION}`"
        raise ConfigError([doc.problem(("version",), msg)])
    if version > FORMAT_VERSION:
        release = f">= {needed}" if too_old else f"newer than {__version__}"
        raise ConfigError(
            [
                doc.problem(
                    ("version",),
                    f"this ml.yaml needs ml-ci {release}: it is format version {version}, and "
                    f"ml-ci {__version__} reads version {FORMAT_VERSION}: {upgrade}",
                )
            ]
        )
    if version < 1:
        raise ConfigError(
            [
                doc.problem(
                    ("version",),
                    f"{version} is not a format version; this ml-ci reads version "
                    f"{FORMAT_VERSION}: write `version: {FORMAT_VERSION}`",
                )
            ]
        )
    if too_old:
        raise ConfigError(
            [
                doc.problem(
                    ("min_ml_ci_version",), f"this ml.yaml needs ml-ci >= {needed} (this is ml-ci {__version__}): {upgrade}"
                )
            ]
        )


def _build(data: dict[str, Any], path: Path) -> Config:
    import dacite

    from ml_ci import tasks
    from ml_ci.config.model import Config

    # The task's keys go into its typed view alone, which both the Config and its data section carry (the
    # task's data half is given the section); the generic dataclasses know none of them.
    half = tasks.get(data["task"]).config()
    spec = half.spec(data)
    keys = by_task.own_keys(data["task"])
    generic = by_task.without(data, keys)
    train = {**generic["train"], "task_params": half.task_params(data)}
    return dacite.from_dict(
        Config,
        {
            **generic,
            "data": {**generic["data"], "spec": spec},
            "train": train,
            "path": path,
            "spec": spec,
            "task_keys": by_task.only(data, keys),
        },
        config=dacite.Config(cast=[tuple], strict=True, check_types=True, type_hooks={Path: Path}),
    )


def check_document(doc: Document, root: Path) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a parsed document; returns the data with defaults and all problems found."""
    _check_version(doc)
    problems = hygiene.check(doc)
    # A value hygiene refused (an expression, a token, an invisible character) needs no second message.
    flagged = {p.path for p in problems}
    contract = schema()
    for err in iter_errors(doc.data, contract):
        problems.extend(p for p in messages(err, doc, contract) if p.path not in flagged)
    if any(p.severity == "error" for p in problems):
        return doc.data, problems
    # The schema is valid here, so `task` names a registered task (or is absent: the default one).
    data = defaults.apply(by_task.effective(contract, doc.data.get("task", by_task.default_task(contract))), doc.data)
    problems.extend(semantics.check(doc, data, root))
    return data, problems


# What a path is when it is not a regular file, for the message.
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _read(path: Path, name: str) -> tuple[bytes, int]:
    """The first MAX_BYTES + 1 bytes of a regular file (enough to know it is too big, without reading 50 MB) and
    its size. Opened without blocking and checked on the open descriptor: opening a FIFO for reading would wait
    for a writer forever, and a device would never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
            raise ConfigError([Problem(name, 0, 0, "", f"is {kind}, not a file; ml.yaml must be a regular file")])
        raw = f.read(MAX_BYTES + 1)
        return raw, max(len(raw), os.fstat(fd).st_size)


def check_file(path: str | Path, *, display_name: str | None = None) -> Checked:
    """Read and validate one ml.yaml (a file, or the folder holding it). Raises ConfigError listing every problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "ml.yaml"
    name = display_name or str(path)
    try:
        raw, size = _read(path, name)
    except FileNotFoundError:
        raise ConfigError([Problem(name, 0, 0, "", "no such file; create one with `ml-ci init`")]) from None
    except OSError as e:
        raise OperationalError(f"{name}: cannot read: {e.strerror}") from None
    doc = load_yaml(raw, name, size=size)
    data, problems = check_document(doc, path.parent)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.col)))
    warnings = sorted((p for p in problems if p.severity == "warning"), key=lambda p: (p.line, p.col))
    return Checked(path, data, tuple(warnings), doc)


def load_config(path: str | Path, *, display_name: str | None = None) -> Loaded:
    """Read, validate and type one ml.yaml. Raises ConfigError listing every problem."""
    checked = check_file(path, display_name=display_name)
    return Loaded(_build(checked.data, checked.path), checked.warnings, checked.document)
