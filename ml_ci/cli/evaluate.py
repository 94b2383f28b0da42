"""`ml-ci evaluate`: metrics on the test split, gates against absolute thresholds and baselines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ml_ci.cli.app import FORMAT_OPTION, NO_CACHE_OPTION, config_option, run_guarded
from ml_ci.config import load_config


def evaluate(
    config_path: Path,
    model: Path | None,
    baseline: Path | None,
    gitops_dir: Path | None,
    main_baseline: Path | None,
    fmt: str,
    no_cache: bool = False,
    allow_stale_model: bool = False,
) -> int:
    from ml_ci import tasks
    from ml_ci.evaluate.baseline import BaselineSources
    from ml_ci.evaluate.stage import Options, gate_failure, run
    from ml_ci.report import markdown, text

    config = load_config(config_path).config
    outcome = run(
        config,
        Options(
            model, BaselineSources(baseline, gitops_dir, main_baseline), no_cache=no_cache, allow_stale_model=allow_stale_model
        ),
    )
    record = outcome.record
    if fmt == "json":
        json.dump(record.summary(), sys.stdout, indent=1, default=str)
        print()
    else:
        parts = tasks.get(config.task).evaluation().report(record)
        print(text.evaluation(record, outcome.results, parts), end="")
        if note := markdown.latency_note(record):
            print(f"\n{note}")
        print(f"\nverdict: {outcome.verdict} (.ml-ci/artifacts/evaluate/eval.json)")
    if outcome.failures:
        raise gate_failure(outcome)
    return 0


@click.command("evaluate")
@config_option
@click.option(
    "--model", type=click.Path(path_type=Path), default=None, help="Model folder (default: .ml-ci/artifacts/train/model)."
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path),
    default=None,
    help="An eval.json to compare against, for every gate's `against` not given otherwise.",
)
@click.option(
    "--gitops-dir",
    type=click.Path(path_type=Path),
    default=None,
    envvar="ML_CI_GITOPS_DIR",
    help="A GitOps checkout: `against: production` reads <dir>/<deploy.gitops.path>/overlays/production/eval.json. "
    "Env: ML_CI_GITOPS_DIR.",
)
@click.option(
    "--main-baseline",
    type=click.Path(path_type=Path),
    default=None,
    help="eval.json (or its folder) of the latest evaluation on main, for `against: main`.",
)
@click.option(
    "--allow-stale-model",
    is_flag=True,
    envvar="ML_CI_ALLOW_STALE_MODEL",
    help="Evaluate the model even when its lineage.json names other training data than ml.yaml "
    "(refused by default, exit 1); eval.json records it as stale. Env: ML_CI_ALLOW_STALE_MODEL=1.",
)
@NO_CACHE_OPTION
@FORMAT_OPTION
def command(
    config_path: Path,
    model: Path | None,
    baseline: Path | None,
    gitops_dir: Path | None,
    main_baseline: Path | None,
    allow_stale_model: bool,
    no_cache: bool,
    fmt: str,
) -> None:
    """Evaluate the trained model and check the quality gates.

    Exit 0 when every gate passes, 4 when one fails, 3 for bad data, 1 for a missing model or baseline, or for a
    model trained on other data than ml.yaml names (see --allow-stale-model).
    """
    raise SystemExit(
        run_guarded(
            lambda: evaluate(config_path, model, baseline, gitops_dir, main_baseline, fmt, no_cache, allow_stale_model), fmt=fmt
        )
    )
