from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from ml_ci.cli.app import FORMAT_OPTION, run_guarded
from ml_ci.config import check_file
from ml_ci.errors import ConfigError, Problem
from ml_ci.report.problems import REPORTERS


def validate(paths: Sequence[Path], fmt: str = "text", quiet: bool = False) -> int:
    """Validate ml.yaml files, reporting every problem of every file at once; 0 when all are valid, 2 when not.

    One report for all files, so that --format json stays a single JSON document.
    """
    problems: list[Problem] = []
    valid: list[str] = []
    for path in paths:
        try:
            checked = check_file(path)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        problems.extend(checked.warnings)
        valid.append(f"{checked.path}: valid ({checked.data['name']}, {checked.data['task']})")
    # Text goes to people: problems on stderr, the verdict on stdout. The other formats are for machines: all on stdout.
    REPORTERS[fmt](problems, sys.stderr if fmt == "text" else sys.stdout)
    if fmt == "text" and not quiet:
        for line in valid:
            click.echo(line)
    return 2 if any(p.severity == "error" for p in problems) else 0


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
# -c as every other command takes it (repeatable here); PATHS stay for pre-commit, which appends file names.
@click.option(
    "-c",
    "--config",
    "configs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Path to ml.yaml (or its folder), as the other commands take it; repeatable. Default: ./ml.yaml.",
)
@FORMAT_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
def command(paths: tuple[Path, ...], configs: tuple[Path, ...], fmt: str, quiet: bool) -> None:
    """Validate ml.yaml files (default: ./ml.yaml). Exit 0 valid, 2 invalid, 1 operational failure."""
    wanted = (*configs, *paths) or (Path("ml.yaml"),)
    raise SystemExit(run_guarded(lambda: validate(wanted, fmt, quiet), fmt=fmt))
