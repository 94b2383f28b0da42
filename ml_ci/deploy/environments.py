"""The deploy section of ml.yaml and its environments, looked up with the errors a reader can act on."""

from __future__ import annotations

from ml_ci.config.model import Config, Deploy, Environment
from ml_ci.errors import ConfigError, Problem


def deploy_section(config: Config) -> Deploy:
    if config.deploy is None:
        raise ConfigError([Problem(str(config.path), 0, 0, "deploy", "ml.yaml has no deploy section; add deploy.environments")])
    return config.deploy


def environment(config: Config, name: str) -> Environment:
    deploy = deploy_section(config)
    try:
        return deploy.environment(name)
    except KeyError:
        known = ", ".join(e.name for e in deploy.environments)
        raise ConfigError(
            [Problem(str(config.path), 0, 0, "deploy.environments", f"no environment named {name!r} (ml.yaml has: {known})")]
        ) from None
