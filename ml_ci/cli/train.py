"""`ml-ci train`: fine-tune model.base; an unchanged rerun restores the cached artifact."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import click

from ml_ci.cache import NO_CACHE_ENV
from ml_ci.cli.app import FORMAT_OPTION, config_option, run_guarded
from ml_ci.config import load_config
from ml_ci.github import actions_io


def execute(config_path: Path, options: object, env: Mapping[str, str] | None = None) -> int:
    from ml_ci.train.launch import reports_result
    from ml_ci.train.stage import TrainOptions, model_digest, run

    assert isinstance(options, TrainOptions)
    env = os.environ if env is None else env
    config = load_config(config_path).config
    outcome = run(config, options, env=env)
    if not reports_result(env):  # one result line per command, not one per torchrun worker
        return 0
    if outcome.status == "key":
        click.echo(outcome.key)
        return 0
    if outcome.status == "emitted":
        click.echo(
            f"wrote {outcome.folder} and {outcome.folder.parent / 'kustomization.yaml'} "
            f"(render: kubectl kustomize {outcome.folder.parent})"
        )
        return 0
    digest = model_digest(outcome.folder)
    what = "cache hit: restored" if outcome.status == "cache-hit" else "trained:"
    scores = ", ".join(f"{k} {v:.4f}" for k, v in sorted(outcome.metrics.items()))
    click.echo(f"train: {what} {outcome.folder} ({scores}); cache key {outcome.key[:16]}")
    actions_io.set_output("model-digest", digest, env)
    actions_io.set_output("cache-key", outcome.key, env)
    actions_io.set_output("cache-hit", "true" if outcome.status == "cache-hit" else "false", env)
    actions_io.add_summary(
        f"### train\n\n| | |\n| --- | --- |\n| status | {outcome.status} |\n"
        + "".join(f"| validation {k} | {v:.4f} |\n" for k, v in sorted(outcome.metrics.items()))
        + f"| model digest | `{digest}` |\n| cache key | `{outcome.key}` |",
        env,
    )
    return 0


@click.command("train")
@config_option
@click.option(
    "--params",
    type=click.Path(path_type=Path),
    default=None,
    help="Tuned hyperparameters (JSON of train.* keys), e.g. .ml-ci/artifacts/tune/best_params.json.",
)
@click.option("--resume", is_flag=True, help="Continue from the latest checkpoint in .ml-ci/work/train (after a kill).")
@click.option(
    "--no-cache",
    is_flag=True,
    envvar=NO_CACHE_ENV,
    help=f"Train even when the stage cache holds this exact result. Env: {NO_CACHE_ENV}=1.",
)
@click.option("--print-cache-key", is_flag=True, help="Print the stage's cache key and stop.")
@click.option(
    "--emit-k8s",
    type=click.Path(path_type=Path),
    default=None,
    metavar="FILE",
    help="Write a Kubeflow PyTorchJob to FILE (and kustomization.yaml beside it) instead of training.",
)
@click.option("--image", default=None, help="Image the PyTorchJob runs (default: <image.registry>/<repository>-train:latest).")
@click.option(
    "--gpus-per-node",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="GPUs each PyTorchJob pod asks for (nvidia.com/gpu).",
)
@FORMAT_OPTION
def command(
    config_path: Path,
    params: Path | None,
    resume: bool,
    no_cache: bool,
    print_cache_key: bool,
    emit_k8s: Path | None,
    image: str | None,
    gpus_per_node: int,
    fmt: str,
) -> None:
    """Fine-tune model.base for sequence classification; writes .ml-ci/artifacts/train/.

    train.distributed.nproc_per_node > 1 runs under torchrun (DDP); nodes > 1 trains on a cluster
    through the PyTorchJob that --emit-k8s writes.
    """
    from ml_ci.train.stage import TrainOptions

    options = TrainOptions(
        params=params,
        resume=resume,
        no_cache=no_cache,
        print_cache_key=print_cache_key,
        emit_k8s=emit_k8s,
        image=image,
        gpus_per_node=gpus_per_node,
    )
    raise SystemExit(run_guarded(lambda: execute(config_path, options), fmt=fmt))
