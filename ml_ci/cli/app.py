"""Shared CLI plumbing: the top-level error handler and output helpers."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from ml_ci.cache import NO_CACHE_ENV
from ml_ci.errors import ConfigError, MlCiError
from ml_ci.github.actions_io import escape_data
from ml_ci.report.problems import REPORTERS

T = TypeVar("T")

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(REPORTERS)),
    default="text",
    show_default=True,
    envvar="ML_CI_FORMAT",
    help="Output format: text, json, or github (workflow annotations). Env: ML_CI_FORMAT.",
)

# One flag for every cached stage; `ml-ci run --no-cache` sets the variable for all of them.
NO_CACHE_OPTION = click.option(
    "--no-cache",
    is_flag=True,
    envvar=NO_CACHE_ENV,
    help=f"Compute even when the stage cache holds this exact result. Env: {NO_CACHE_ENV}=1.",
)


def run_guarded(fn: Callable[[], int], *, fmt: str = "text") -> int:
    """Map ml-ci's errors to their exit codes; only real bugs show a traceback (or ML_CI_DEBUG=1)."""
    try:
        return fn()
    except ConfigError as e:
        REPORTERS[fmt](e.problems, sys.stderr if fmt == "text" else sys.stdout)
        return e.exit_code
    except MlCiError as e:
        if os.environ.get("ML_CI_DEBUG"):
            traceback.print_exc()
        msg = str(e)
        if fmt == "github" and not e.annotated:
            print(f"::error title=ml-ci::{escape_data(msg)}")
        click.echo(f"error: {msg}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130


def config_option(f: Callable[..., T]) -> Callable[..., T]:
    """-c/--config, shared by every stage command: the model repository is the folder of ml.yaml."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default="ml.yaml",
        show_default=True,
        envvar="ML_CI_CONFIG",
        help="Path to ml.yaml (or its folder). Env: ML_CI_CONFIG.",
    )(f)
