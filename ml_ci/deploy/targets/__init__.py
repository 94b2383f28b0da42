"""Where a digest goes live: one module per kind of deploy target, each implementing `Target`, listed
in one registry (as pre-commit keeps one module per language).

- local: a container in this machine's Docker engine (environment `kind: local`);
- gitops: a commit to the GitOps repository that Argo CD / Flux rolls out (`strategy: gitops`);
- apply: a server-side apply to the cluster with a rollout watch (`strategy: apply`).

The Deployer keeps the policy (the gate verdict, the registry check, when a promotion is refused)
and asks the environment's target for the rest; it never names a target's mechanics.
"""

from __future__ import annotations

from ml_ci.config.model import Deploy, Environment
from ml_ci.deploy.context import Context
from ml_ci.deploy.targets.apply import ApplyTarget
from ml_ci.deploy.targets.gitops import GitOpsTarget
from ml_ci.deploy.targets.local import LocalTarget
from ml_ci.deploy.targets.protocol import Factory, Target

# target name -> its class. Environment `kind: local` picks "local"; a Kubernetes environment picks deploy.strategy.
# Typed as factories of Target, so mypy checks each class against the whole protocol (tests/unit/deploy/test_targets.py
# checks the same at run time).
REGISTRY: dict[str, Factory] = {"local": LocalTarget, "gitops": GitOpsTarget, "apply": ApplyTarget}


def name_for(deploy: Deploy, env: Environment) -> str:
    """The target that deploys to env."""
    return "local" if env.kind == "local" else deploy.strategy


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str, ctx: Context) -> Target:
    """The target called `name`, made for ctx; KeyError for a name not in the registry."""
    return REGISTRY[name](ctx)
