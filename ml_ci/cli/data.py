"""`ml-ci data`: the data stages. `ml-ci data check` runs the checks of ml.yaml's data.checks."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ml_ci.cli.app import FORMAT_OPTION, NO_CACHE_OPTION, config_option, run_guarded
from ml_ci.config import load_config


@click.group("data")
def command() -> None:
    """Data stages."""


@command.command("check")
@config_option
@NO_CACHE_OPTION
@FORMAT_OPTION
def check(config_path: Path, no_cache: bool, fmt: str) -> None:
    """Check the data splits against ml.yaml's data.checks.

    Writes .ml-ci/artifacts/data-check/report.json and report.md (and the job summary and the
    `fingerprint` output in GitHub Actions). Exit 0 when every check passes or only warns
    (data.checks.severity), 3 when one fails (naming the rows and the setting that changes it), 1 when
    a file cannot be read. An unchanged rerun restores the cached report.
    """

    def go() -> int:
        from ml_ci.data.check import data_check

        return data_check(load_config(config_path).config, fmt=fmt, out=sys.stdout, no_cache=no_cache)

    raise SystemExit(run_guarded(go, fmt=fmt))
