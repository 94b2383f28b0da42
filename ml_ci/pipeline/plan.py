"""The stages of a pipeline and their order, computed from the config alone (pure).

Which commands run, in which order and with which description comes from the stage table
(`ml_ci.pipeline.stages`); ml.yaml decides whether tuning runs and which environments follow the build.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_ci.config.model import Config
from ml_ci.pipeline import stages as table
from ml_ci.pipeline.layout import IN_REPO

# The stages `ml-ci run` runs before the deploys, in order (report posts to a pull request: CI only).
LOCAL = ("validate", "data-check", "tune", "train", "evaluate", "export", "build")


@dataclass(frozen=True)
class Stage:
    name: str  # unique id, e.g. "deploy-staging"
    command: tuple[str, ...]  # the ml-ci CLI call that runs it in the model repository, the same in CI and on a laptop
    needs: tuple[str, ...] = ()
    description: str = ""


def plan(config: Config) -> list[Stage]:
    """Stages in dependency order, each after the one before it. PR runs stop after evaluate; releases go on to deploy."""
    stages: list[Stage] = []
    for name in LOCAL:
        spec = table.get(name)
        if name == "tune" and not config.tune.enabled:
            continue
        command = spec.command
        if name == "train" and config.tune.enabled:
            # Commands run in the model repository, so the path is relative to it, as in CI.
            command = (*command, "--params", IN_REPO.best_params.as_posix())
        needs = (stages[-1].name,) if stages else ()
        stages.append(Stage(name, command, needs, spec.plan.format(config=config)))
    if config.deploy:
        first, *rest = config.deploy.environments
        deploy, promote = table.get("deploy"), table.get("promote")
        stages.append(
            Stage(
                f"deploy-{first.name}",
                (*deploy.command, "--env", first.name),
                (stages[-1].name,),
                deploy.plan.format(env=first.name),
            )
        )
        previous = first.name
        for env in rest:
            stages.append(
                Stage(
                    f"promote-{env.name}",
                    (*promote.command, "--from", previous, "--to", env.name),
                    (stages[-1].name,),
                    promote.plan.format(previous=previous, env=env.name),
                )
            )
            previous = env.name
    return stages
