"""The stages of a pipeline and their order, computed from the config alone (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_ci.config.model import Config
from ml_ci.pipeline.layout import Layout


@dataclass(frozen=True)
class Stage:
    name: str  # unique id, e.g. "deploy-staging"
    command: tuple[str, ...]  # the ml-ci CLI call that runs it in the model repository, the same in CI and on a laptop
    needs: tuple[str, ...] = ()
    description: str = ""


def plan(config: Config) -> list[Stage]:
    """Stages in dependency order. PR runs stop after evaluate; releases go on to deploy."""
    stages = [
        Stage("validate", ("validate",), (), "validate ml.yaml"),
        Stage("data-check", ("data", "check"), ("validate",), "test the data"),
    ]
    train_needs: tuple[str, ...] = ("data-check",)
    train_command: tuple[str, ...] = ("train",)
    if config.tune.enabled:
        stages.append(Stage("tune", ("tune",), ("data-check",), f"Optuna study, {config.tune.trials} trials"))
        train_needs = ("tune",)
        # Commands run in the model repository, so the path is relative to it, as in CI.
        train_command = ("train", "--params", Layout(Path(".")).best_params.as_posix())
    stages += [
        Stage("train", train_command, train_needs, f"fine-tune {config.model.base}"),
        Stage("evaluate", ("evaluate",), ("train",), "evaluate and check gates"),
        Stage("export", ("export",), ("evaluate",), f"package as {config.package.format}"),
        Stage("build", ("build",), ("export",), "build, verify and push the serving image"),
    ]
    if config.deploy:
        first, *rest = config.deploy.environments
        stages.append(
            Stage(f"deploy-{first.name}", ("deploy", "--env", first.name), ("build",), f"deploy to {first.name} and smoke-test")
        )
        previous = first.name
        for env in rest:
            stages.append(
                Stage(
                    f"promote-{env.name}",
                    ("promote", "--from", previous, "--to", env.name),
                    (f"deploy-{previous}" if previous == first.name else f"promote-{previous}",),
                    f"promote {previous} -> {env.name}",
                )
            )
            previous = env.name
    return stages
