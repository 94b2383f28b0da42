"""`kind: local`: the image runs in this machine's Docker engine. A candidate is smoke-tested on a free
port first; only then is the environment's container swapped (and the old one restored when the new one
does not become ready). With deploy.gitops the GitOps repository records it too, and approval: true puts
the first deploy of a digest up for review there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ml_ci import serving_client
from ml_ci.config.model import Environment
from ml_ci.deploy import gitops, smoke, state, tree
from ml_ci.deploy.context import Context
from ml_ci.deploy.gitops_flow import GitOpsFlow
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.deploy.manifests import GPU_ACCELERATOR
from ml_ci.errors import ConfigError, DeployError, Problem
from ml_ci.records.release import Deployed, Release

Check = Callable[[str, Callable[[], bool]], smoke.SmokeReport]


class LocalTarget:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config

    def _engine(self, env: Environment) -> Any:
        from ml_ci.deploy.local import LocalEngine, docker_client

        return LocalEngine(
            self.ctx.docker or docker_client(),
            self.config.name,
            env.name,
            drain_seconds=self.config.serve.drain_seconds,
            gpu=self.config.image.accelerator == GPU_ACCELERATOR,
        )

    def _recorded(self, env: Environment) -> Optional[Release]:
        """What this machine recorded for env, else what the GitOps repository does (a CI job starts without
        .ml-ci/state: the repository is what says that the running container is a good release)."""
        local = state.load(self.config.root, env.name)
        repo = self.ctx.repo() if local is None else None
        if repo is None:
            return local.release if local else None
        with repo.snapshot() as co:
            return GitOpsFlow(self.ctx, repo).current(co, env.name)

    def deploy(self, env: Environment, inputs: Inputs) -> Result:
        """Candidate smoke test, then the record (a GitOps commit when configured), then the swap: a refused
        push leaves the old container serving, and a swap that fails is reverted in git as well. With
        approval: true (which validate allows only where the record lives in a GitOps repository) the first
        deploy of a digest is a review branch and starts nothing; the one after its merge runs it (complete)."""
        if env.port is None:
            raise ConfigError(
                [Problem(str(self.config.path), 0, 0, f"deploy.environments.{env.name}.port", "a local environment needs a port")]
            )
        engine = self._engine(env)
        if engine.running_image() == str(inputs.image):
            recorded = self._recorded(env)
            if (
                recorded is not None
                and recorded.image == str(inputs.image)
                and recorded.good
                and engine.healthy(env.port) is None
            ):
                return Result(recorded, False, f"{env.name} already runs {inputs.image.short}; nothing to do")
        previous = engine.running_image()
        check = self._check(env, inputs)
        repo = self.ctx.repo()
        if env.approval and repo is None:  # validate refuses this; never deploy past a review that cannot exist
            raise ConfigError(
                [
                    Problem(
                        str(self.config.path),
                        0,
                        0,
                        f"deploy.environments.{env.name}.approval",
                        "approval: true on kind: local needs deploy.gitops, where the review branch goes",
                    )
                ]
            )
        flow = GitOpsFlow(self.ctx, repo) if repo is not None else None
        if env.approval and flow is not None:
            with flow.repo.snapshot() as co:
                current = flow.current(co, env.name)
            if current is not None and current.image == str(inputs.image) and current.status == "pending":
                # A merged review (the merge is the approval): start it here, as Argo CD would roll it out there.
                return flow.complete(env, inputs, current, lambda: self._run(engine, env, inputs, check))
            if not (current is not None and current.image == str(inputs.image) and current.good):
                return flow.propose(env, inputs)
            # Approved and recorded live already (a fresh runner, a container removed): run it again, no review.

        report = engine.trial(inputs.image, check)
        release = self.ctx.release(env, inputs, "passed" if env.smoke_test.enabled else "skipped", previous)
        before: dict[str, str] = {}
        outcome = None
        if flow is not None:
            overlay = tree.overlay_dir(self.config, env.name)

            def decide(co: gitops.Checkout) -> gitops.Edit:
                before.clear()
                before.update(co.files(overlay))
                return flow.edit(env, inputs, release, f"{env.name}: {self.config.name} {inputs.image.short} ({inputs.source})")

            outcome = flow.repo.update(decide)
        try:
            container = engine.swap(inputs.image, env.port, env.smoke_test.timeout_seconds)
        except DeployError as e:
            if flow is not None and outcome is not None and outcome.changed:
                failed = release.with_(status="failed", reason=str(e).splitlines()[0].removeprefix(f"{env.name}: "))
                flow.repo.update(lambda co: flow.revert(co, env, inputs, before, failed))
            raise
        self.ctx.save(release, inputs)
        return Result(
            release,
            True,
            f"{env.name}: {container} serves {inputs.image.short} at http://127.0.0.1:{env.port}; {report.summary()}",
            outcome.commit if outcome else None,
        )

    def _check(self, env: Environment, inputs: Inputs) -> Check:
        """How a local candidate is checked: the smoke test, or (smoke_test.enabled: false) /readyz alone."""

        def check(url: str, alive: Callable[[], bool]) -> smoke.SmokeReport:
            if not env.smoke_test.enabled:
                problem = serving_client.ready_problem(url, env.smoke_test.timeout_seconds, alive=alive)
                return smoke.SmokeReport(problem is None, 0, (problem,) if problem else ())
            return self.ctx.smoke(env, inputs, url, alive)

        return check

    @staticmethod
    def _run(engine: Any, env: Environment, inputs: Inputs, check: Check) -> smoke.SmokeReport:
        """Trial, then swap, as one check whose failure GitOpsFlow.smoke_and_record reverts in git: a failed trial
        never touched the running container and a failed swap restored it, so what ran before still serves."""
        reports: list[smoke.SmokeReport] = []

        def kept(url: str, alive: Callable[[], bool]) -> smoke.SmokeReport:
            reports.append(check(url, alive))
            return reports[-1]

        try:
            engine.trial(inputs.image, kept)
            assert env.port is not None
            engine.swap(inputs.image, env.port, env.smoke_test.timeout_seconds)
        except DeployError as e:
            if reports and not reports[-1].passed:
                return reports[-1]
            first = str(e).splitlines()[0].removeprefix(f"{env.name}: ")
            return smoke.SmokeReport(False, reports[-1].checked if reports else 0, (first,))
        return reports[-1]

    def live(self, env: Environment) -> Optional[Deployed]:
        """What the GitOps repository records for env when there is one; else what this machine does."""
        repo = self.ctx.repo()
        if repo is None:
            return state.load(self.config.root, env.name)
        return GitOpsFlow(self.ctx, repo).deployed(env.name)

    def health(self, env: Environment) -> Optional[str]:
        assert env.port is not None
        return self._engine(env).healthy(env.port)  # type: ignore[no-any-return]

    def smoke_reaches(self, env: Environment) -> bool:
        return True  # the candidate runs here, on a free port

    def url(self, env: Environment) -> Optional[str]:
        return env.url or (f"http://127.0.0.1:{env.port}" if env.port else None)

    def unchanged(self, env: Environment, release: Release) -> bool:
        return True  # the container is the image: the same digest is the same deploy
