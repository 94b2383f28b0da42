"""`ml-ci tune`: an Optuna study over tune.search_space; writes .ml-ci/artifacts/tune/."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click

from ml_ci.cli.app import FORMAT_OPTION, NO_CACHE_OPTION, config_option, run_guarded
from ml_ci.config import load_config
from ml_ci.report.problems import REPORTERS


def tune(
    config_path: Path,
    trials: Optional[int],
    workers: Optional[int],
    timeout_minutes: Optional[float],
    report: bool,
    fmt: str,
    no_cache: bool = False,
) -> int:
    from ml_ci.tune.run import TuneOptions
    from ml_ci.tune.run import tune as run_tune

    loaded = load_config(config_path)
    if loaded.warnings:
        REPORTERS[fmt](list(loaded.warnings), sys.stderr if fmt == "text" else sys.stdout)
    result = run_tune(
        loaded.config,
        TuneOptions(trials=trials, workers=workers, timeout_minutes=timeout_minutes, report=report, no_cache=no_cache),
    )
    if fmt == "json" and result.summary is not None:
        json.dump({**result.summary.to_json(), "plan": result.plan.to_json(), "ran": result.ran}, sys.stdout, indent=1)
        print()
    elif result.summary is not None and result.summary.best is not None:
        best = result.summary.best
        params = ", ".join(f"{k}={v}" for k, v in sorted(best.params.items()))
        click.echo(
            f"best {result.plan.metric}: {best.value:.4f} (trial {best.number}: {params}); "
            f"{len(result.summary.trials)} trials in study {result.plan.study_name}"
        )
        path = ".ml-ci/artifacts/tune/best_params.json"
        click.echo(f"wrote {path} (use: ml-ci train --params {path})")
    return 0


@click.command("tune")
@config_option
@click.option(
    "--trials",
    type=click.IntRange(min=0),
    default=None,
    help="The most trials this command runs (all its workers together); the study stops at tune.trials "
    "finished trials in all. 0 only writes the report of the study so far. Default: tune.trials.",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Local worker processes on the same study. Default: tune.workers."
)
@click.option(
    "--timeout-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Start no new trial after this long. Default: tune.timeout_minutes.",
)
@click.option(
    "--report/--no-report", default=True, hidden=True, help="Write the artifacts (worker processes leave that to their parent)."
)
@NO_CACHE_OPTION
@FORMAT_OPTION
def command(
    config_path: Path,
    trials: Optional[int],
    workers: Optional[int],
    timeout_minutes: Optional[float],
    report: bool,
    no_cache: bool,
    fmt: str,
) -> None:
    """Search hyperparameters with Optuna over tune.search_space.

    Several runs (CI matrix jobs, or --workers) share one study in the storage named by the
    environment variable tune.storage_env (default OPTUNA_STORAGE; unset: .ml-ci/tune.db).
    Writes .ml-ci/artifacts/tune/best_params.json (for `ml-ci train --params`), report.md,
    report.json and plots; a finished study's artifacts are cached. Exit 2 when tuning is disabled
    in ml.yaml (tune.enabled: false), 1 when the storage cannot be reached or no trial completed.
    """
    raise SystemExit(run_guarded(lambda: tune(config_path, trials, workers, timeout_minutes, report, fmt, no_cache), fmt=fmt))
