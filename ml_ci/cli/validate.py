from __future__ import annotations

import sys
from pathlib import Path

import click

from ml_ci.cli.app import FORMAT_OPTION, run_guarded
from ml_ci.config import load_config
from ml_ci.report.problems import REPORTERS


def validate(path: Path, fmt: str = "text", quiet: bool = False) -> int:
    """Validate one ml.yaml; 0 when valid, 2 when not."""
    loaded = load_config(path)
    out = sys.stdout
    if loaded.warnings or fmt == "json":
        REPORTERS[fmt](list(loaded.warnings), sys.stderr if fmt == "text" else out)
    if fmt == "text" and not quiet:
        print(f"{path}: valid ({loaded.config.name}, {loaded.config.task})", file=out)
    return 0


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@FORMAT_OPTION
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
def command(paths: tuple[Path, ...], fmt: str, quiet: bool) -> None:
    """Validate ml.yaml files (default: ./ml.yaml). Exit 0 valid, 2 invalid, 1 operational failure."""
    worst = 0
    for path in paths or (Path("ml.yaml"),):
        code = run_guarded(lambda: validate(path, fmt, quiet), fmt=fmt)
        worst = max(worst, code)
    raise SystemExit(worst)
