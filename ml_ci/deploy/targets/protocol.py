"""The protocol every deploy target implements (ml_ci.deploy.targets lists them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Optional, Protocol

from ml_ci.config.model import Environment

if TYPE_CHECKING:
    from ml_ci.deploy.context import Context
    from ml_ci.deploy.inputs import Inputs, Result
    from ml_ci.records.release import Deployed, Release


class Target(Protocol):
    """How one kind of environment runs a digest, and says what runs."""

    def deploy(self, env: Environment, inputs: Inputs) -> Result:
        """Put inputs.image live in env, or up for review where env needs approval; smoke-test it where the
        smoke test reaches, and record it. A failure raises DeployError after rolling back what this target
        changed (the previous container keeps serving, the GitOps commit is reverted, the previous image is
        applied again). A digest already live and healthy there is a Result with changed=False."""
        ...

    def live(self, env: Environment) -> Optional[Deployed]:
        """What runs in env, with the records it was deployed with, read from the one place this target
        records it; None when nothing was deployed there."""
        ...

    def health(self, env: Environment) -> Optional[str]:
        """None when what runs in env answers as ready (or there is nothing to ask); else what is wrong."""
        ...

    def smoke_reaches(self, env: Environment) -> bool:
        """Whether a deploy to env can run the smoke test (so it needs golden examples before it starts)."""
        ...

    def url(self, env: Environment) -> Optional[str]:
        """Where env serves, for the record of a promotion (a GitHub Deployment); None when unknown."""
        ...

    def unchanged(self, env: Environment, release: Release) -> bool:
        """Whether deploying release's image to env again would deploy just what release records (a promotion
        of a digest that runs there already is then a no-op)."""
        ...


# How a target is made for one deploy (its class, for the three of ml-ci).
Factory = Callable[["Context"], Target]
