"""What every deploy target is given: the config, the environment variables, where to log, the clients a
test may inject, and the pieces they share (the GitOps repository, the smoke test, a new release record)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ml_ci import serving_client, tasks
from ml_ci.config.gitops_remote import ALLOW_HTTP_ENV, insecure_http, missing_repository, resolve_remote
from ml_ci.config.model import Config, Environment
from ml_ci.deploy import gitops, smoke, state
from ml_ci.deploy.inputs import Inputs
from ml_ci.errors import ConfigError, DeployError, Problem
from ml_ci.records.evaluation import verdict_of
from ml_ci.records.golden import GoldenRecord
from ml_ci.records.release import Deployed, Release, SmokeResult, extra_for


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True, kw_only=True)
class Context:
    config: Config
    environ: Mapping[str, str]
    log: Callable[[str], None] = print
    kube: Any = None  # an ml_ci.deploy.apply.Kube (tests pass a stand-in); made from the kubeconfig when None
    docker: Any = None  # a docker client; from the environment when None
    watch_timeout: Optional[float] = None  # `strategy: apply`: how long to watch a rollout (default: its deadline + 30 s)

    def repo(self) -> Optional[gitops.GitOpsRepo]:
        """The GitOps repository of deploy.gitops, or None when ml.yaml has none."""
        assert self.config.deploy is not None
        g = self.config.deploy.gitops
        if g is None:
            return None
        missing = missing_repository(g.repo, self.config.root, g.create)
        if missing is not None:
            raise ConfigError([Problem(str(self.config.path), 0, 0, "deploy.gitops.repo", missing)])
        remote = resolve_remote(g.repo, self.config.root, self.environ)
        token = self.environ.get(g.token_env) or None
        if token and insecure_http(remote) and not (g.allow_insecure_http or self.environ.get(ALLOW_HTTP_ENV) == "1"):
            raise DeployError(
                f"deploy.gitops.repo {remote.url} is plain http://: git would send the token in ${g.token_env} "
                "unencrypted (as Basic auth), so nothing was sent; use an https:// URL, or allow it with "
                f"deploy.gitops.allow_insecure_http: true in ml.yaml or {ALLOW_HTTP_ENV}=1"
            )
        hint = (
            f"check the token in ${g.token_env}, named by deploy.gitops.token_env"
            if token
            else f"set ${g.token_env}, named by deploy.gitops.token_env, to a token that can push to {g.repo}"
        )
        return gitops.GitOpsRepo(remote, g.branch, token=token, auth_hint=hint, create=g.create)

    def smoke(
        self, env: Environment, inputs: Inputs, base_url: str, alive: Callable[[], bool] = lambda: True
    ) -> smoke.SmokeReport:
        """The smoke test of env's golden examples against the server at base_url."""
        assert inputs.golden is not None  # Deployer.deploy refuses a smoke test without golden examples up front
        golden = GoldenRecord.from_data(inputs.golden, "golden.json")
        return smoke.run(
            base_url,
            golden,
            env.smoke_test.golden_examples,
            env.smoke_test.timeout_seconds,
            serving=tasks.get(self.config.task).serving(),
            batch=self.config.serve.max_texts,
            model_sha256=inputs.model_sha256,
            alive=alive,
        )

    def url_health(self, env: Environment) -> Optional[str]:
        """None when env's url answers /readyz (or env has no url: the record's status stands); else why not."""
        if env.url:
            return serving_client.ready_problem(env.url.rstrip("/"), 10)
        return None

    @staticmethod
    def release(env: Environment, inputs: Inputs, smoke_result: SmokeResult, previous: Optional[str]) -> Release:
        """A new release record of inputs in env, made now."""
        return Release(
            environment=env.name,
            image=str(inputs.image),
            verdict=verdict_of(inputs.eval_record),
            smoke=smoke_result,
            status="live" if smoke_result != "pending" else "pending",
            deployed_at=now(),
            source=inputs.source,
            previous=previous,
            extra=extra_for(inputs.model_sha256),
        )

    def save(self, release: Release, inputs: Inputs) -> None:
        """Record release on this machine (.ml-ci/state/<env>/), with the records deployed beside it."""
        state.save(self.config.root, Deployed(release=release, eval_record=inputs.eval_record, golden=inputs.golden))
