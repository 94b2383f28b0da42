"""What the two Kubernetes targets (gitops, apply) share: the environment serves at its `url`, when
ml.yaml gives one; without it there is nothing to smoke-test or to ask for health."""

from __future__ import annotations

from typing import Optional

from ml_ci.config.model import Environment
from ml_ci.deploy.context import Context


class AtItsUrl:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config

    def health(self, env: Environment) -> Optional[str]:
        return self.ctx.url_health(env)

    def smoke_reaches(self, env: Environment) -> bool:
        return bool(env.url)

    def url(self, env: Environment) -> Optional[str]:
        return env.url
