"""`ml-ci run [-c ml.yaml]`: the plan's stages in order on this machine, each as the CLI command CI runs.

Each stage is its own `python -m ml_ci <command> -c ml.yaml` process, so its memory (a model,
torch) is freed before the next starts. Stages learn nothing from each other but the files
under .ml-ci/artifacts, exactly as in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from ml_ci.cache import NO_CACHE_ENV
from ml_ci.cli.app import config_option, run_guarded
from ml_ci.config import load_config
from ml_ci.config.schema_errors import suggest
from ml_ci.pipeline import runner
from ml_ci.pipeline.layout import Layout
from ml_ci.pipeline.plan import Stage, plan


def _cache_hit(outputs: Path) -> bool:
    """Stages report `cache-hit=true` through the GitHub Actions output file, as they do in CI."""
    try:
        return "cache-hit=true" in outputs.read_text(encoding="utf-8").splitlines()
    except OSError:
        return False


def run_stage(stage: Stage, config_path: Path, no_cache: bool = False) -> runner.StageRun:
    """`python -m ml_ci <command> -c ml.yaml` in the model repository, as a CI step runs it."""
    with tempfile.TemporaryDirectory(prefix="ml-ci-run-") as tmp:
        outputs = Path(tmp) / "outputs"
        outputs.touch()
        env = {**os.environ, "GITHUB_OUTPUT": str(outputs)}
        env.pop("GITHUB_STEP_SUMMARY", None)
        if no_cache:  # every cached stage's --no-cache reads it
            env[NO_CACHE_ENV] = "1"
        started = time.perf_counter()
        try:
            code = subprocess.run(
                [sys.executable, "-m", "ml_ci", *runner.argv(stage, config_path.name)],
                env=env,
                cwd=config_path.parent,
                check=False,
            ).returncode
        except OSError as e:
            click.echo(f"error: cannot start {stage.name}: {e}", err=True)
            code = 1
        return runner.StageRun(code, time.perf_counter() - started, _cache_hit(outputs))


def print_plan(stages: list[Stage], title: str) -> None:
    click.echo(title)
    for i, stage in enumerate(stages, 1):
        needs = f" (after {', '.join(stage.needs)})" if stage.needs else ""
        click.echo(f"  {i:2}. {stage.name:<20} ml-ci {' '.join(stage.command):<40} {stage.description}{needs}")


def run(path: Path, dry_run: bool, start: str | None, only: str | None, no_cache: bool = False) -> int:
    config = load_config(path).config
    stages = plan(config)
    try:
        stages = runner.select(stages, start=start, only=only)
    except runner.PlanError as e:
        wanted = next(w for w in (start, only) if w is not None and w not in {s.name for s in stages})
        hint = suggest(wanted, [s.name for s in stages])
        raise click.BadParameter(f"{e}{hint}", param_hint="--only" if wanted == only else "--from") from None
    print_plan(stages, f"{config.path}: valid; pipeline of {config.name}:")
    if dry_run:
        return 0
    total = len(stages)

    def on_start(index: int, stage: Stage) -> None:
        command = " ".join(runner.argv(stage, config.path.name))
        click.secho(f"\n==> [{index}/{total}] {stage.name}: ml-ci {command}  (in {config.root})", bold=True)

    def on_end(result: runner.Result) -> None:
        extra = f" ({result.reason})" if result.reason else ""
        timing = f" in {result.seconds:.1f} s" if result.status in (runner.OK, runner.CACHED, runner.FAILED) else ""
        click.echo(f"<== {result.stage.name}: {result.status}{timing}{extra}")

    started = time.perf_counter()
    results = runner.execute(stages, lambda s: run_stage(s, config.path, no_cache), on_start=on_start, on_end=on_end)
    layout = Layout(config.root)
    click.echo("\n" + runner.table(runner.summary(results, layout, relative_to=config.root)))
    code = runner.exit_code(results)
    click.echo(f"\n{'failed' if code else 'done'} in {time.perf_counter() - started:.1f} s" + (f": exit {code}" if code else ""))
    return code


@click.command("run")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@config_option
@click.option("--dry-run", is_flag=True, help="Print the plan of stages and stop.")
@click.option("--from", "start", metavar="STAGE", default=None, help="Start at STAGE (earlier artifacts are reused).")
@click.option("--only", metavar="STAGE", default=None, help="Run STAGE alone.")
@click.option("--no-cache", is_flag=True, help=f"Recompute every stage, even unchanged ones (sets {NO_CACHE_ENV}=1 for them).")
def command(path: Path | None, config_path: Path, dry_run: bool, start: str | None, only: str | None, no_cache: bool) -> None:
    """Run the pipeline's stages in order on this machine, as CI runs them (PATH: repository or ml.yaml,
    the same as -c).

    Stages whose inputs did not change since a run on this machine restore their result from the
    stage cache (.ml-ci/cache) and are reported as `cache hit`."""
    ctx = click.get_current_context()
    if path is not None and ctx.get_parameter_source("config_path") == click.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"give the ml.yaml once: PATH ({path}) or -c/--config ({config_path}), not both")
    raise SystemExit(run_guarded(lambda: run(path if path is not None else config_path, dry_run, start, only, no_cache)))
