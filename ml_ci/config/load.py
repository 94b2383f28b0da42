"""ml.yaml -> typed Config, or every problem at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from ml_ci import __version__
from ml_ci.config import defaults, hygiene, semantics
from ml_ci.config.model import Config
from ml_ci.config.schema_errors import messages
from ml_ci.config.yamlfile import Document, load as load_yaml
from ml_ci.errors import ConfigError, OperationalError, Problem
from ml_ci.resources import schema

FORMAT_VERSION = 1


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
        kind = "a list" if isinstance(data, list) else "null" if data is None else f"a {type(data).__name__}"
        raise ConfigError([doc.problem((), f"the top level must be a mapping of keys (version, name, data, ...), not {kind}")])
    if "version" not in data:
        raise ConfigError([doc.problem((), "missing required key 'version' (write `version: 1` first)")])
    version = data["version"]
    raw, style = doc.raw.get(("version",), (None, None))
    if isinstance(version, bool) or not isinstance(version, int):
        if isinstance(version, float) and raw is not None and style is None:
            msg = f"{raw} was read as the number {version}; version is a whole number: write `version: {FORMAT_VERSION}`"
        else:
            msg = f"{version!r} is not a version number; write `version: {FORMAT_VERSION}`"
        raise ConfigError([doc.problem(("version",), msg)])
    if version > FORMAT_VERSION:
        raise ConfigError([doc.problem(("version",), f"this ml.yaml is format version {version}; it needs ml-ci >= a release that "
                                       f"reads version {version} (this is ml-ci {__version__}, which reads version {FORMAT_VERSION}): "
                                       "pip install -U ml-ci")])
    if version < 1:
        raise ConfigError([doc.problem(("version",), f"{version} is not a supported version; this ml-ci reads version {FORMAT_VERSION}")])
    needed = data.get("min_ml_ci_version")
    if isinstance(needed, str):
        try:
            too_old = _version_tuple(needed) > _version_tuple(__version__)
        except ValueError:
            too_old = False  # the schema reports the malformed value
        if too_old:
            raise ConfigError([doc.problem(("min_ml_ci_version",), f"this ml.yaml needs ml-ci >= {needed} (this is ml-ci {__version__}): pip install -U 'ml-ci>={needed}'")])


def _build(data: dict[str, Any], path: Path) -> Config:
    import dacite  # light, but only needed once the file is valid

    return dacite.from_dict(Config, {**data, "path": path},
                            config=dacite.Config(cast=[tuple], strict=True, check_types=True, type_hooks={Path: Path}))


def check_document(doc: Document, root: Path) -> tuple[dict[str, Any], list[Problem]]:
    """Validate a parsed document; returns the data with defaults and all problems found."""
    _check_version(doc)
    problems = hygiene.check(doc)
    validator = jsonschema.Draft202012Validator(schema())
    for err in sorted(validator.iter_errors(doc.data), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.extend(messages(err, doc))
    if any(p.severity == "error" for p in problems):
        return doc.data, problems
    data = defaults.apply(schema(), doc.data)
    problems.extend(semantics.check(doc, data, root))
    return data, problems


def load_config(path: str | Path, *, display_name: str | None = None) -> Loaded:
    """Read, validate and type one ml.yaml. Raises ConfigError listing every problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "ml.yaml"
    name = display_name or str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(name, 0, 0, "", "no such file; create one with `ml-ci init`")]) from None
    except OSError as e:
        raise OperationalError(f"{name}: cannot read: {e.strerror}") from None
    doc = load_yaml(raw, name)
    data, problems = check_document(doc, path.parent)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(sorted(problems, key=lambda p: (p.line, p.col)))
    return Loaded(_build(data, path), tuple(p for p in problems if p.severity == "warning"), doc)
