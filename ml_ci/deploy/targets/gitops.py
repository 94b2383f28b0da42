"""`strategy: gitops`: a commit to the environment's overlay in the GitOps repository, which Argo CD or
Flux rolls out; smoke-tested at the environment's url, then recorded live or reverted in git."""

from __future__ import annotations

from typing import Optional

from ml_ci.config.model import Environment
from ml_ci.deploy import gitops, state, tree
from ml_ci.deploy.gitops_flow import GitOpsFlow
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.deploy.targets.cluster import AtItsUrl
from ml_ci.errors import ConfigError, Problem
from ml_ci.records.release import Deployed, Release, SmokeResult


class GitOpsTarget(AtItsUrl):
    def deploy(self, env: Environment, inputs: Inputs) -> Result:
        repo = self.ctx.repo()
        if repo is None:
            raise ConfigError(
                [Problem(str(self.config.path), 0, 0, "deploy.gitops", "strategy gitops needs deploy.gitops (repo and path)")]
            )
        flow = GitOpsFlow(self.ctx, repo)
        with repo.snapshot() as co:
            current = flow.current(co, env.name)
        if current is not None and current.image == str(inputs.image):
            if current.status == "live":
                return Result(current, False, f"{env.name} already runs {inputs.image.short}; no new commit")
            if current.status == "pending":
                # On the branch and not yet live: a merged review (the merge is the approval), or a deploy that
                # stopped before its smoke test. Either way what Argo CD / Flux rolls out is this digest: finish it.
                return flow.complete(env, inputs, current)
        if env.approval:
            return flow.propose(env, inputs)
        can_smoke = env.smoke_test.enabled and env.url is not None
        smoke_state: SmokeResult = "pending" if can_smoke else ("skipped" if not env.smoke_test.enabled else "not-run")
        before: dict[str, str] = {}
        overlay = tree.overlay_dir(self.config, env.name)
        message = f"{env.name}: {self.config.name} {inputs.image.short} ({inputs.source})"
        release_box: list[Release] = []

        def decide(co: gitops.Checkout) -> Optional[gitops.Edit]:
            current = flow.current(co, env.name)
            if current is not None and current.image == str(inputs.image) and current.status == "live":
                return None  # the same digest is already what runs: no commit
            before.clear()
            before.update(co.files(overlay))
            release = self.ctx.release(env, inputs, smoke_state, flow.previous(current))
            release_box[:] = [release]
            return flow.edit(env, inputs, release, message)

        outcome = repo.update(decide)
        if not outcome.changed:
            with repo.snapshot() as co:
                current = flow.current(co, env.name)
            assert current is not None
            return Result(current, False, f"{env.name} already runs {inputs.image.short}; no new commit")
        release = release_box[0]
        self.ctx.save(release, inputs)
        if not can_smoke:
            note = "" if smoke_state == "skipped" else " (no smoke test: the environment has no url)"
            return Result(release, True, f"{env.name}: committed {inputs.image.short} to {repo.branch}{note}", outcome.commit)
        return flow.smoke_and_record(env, inputs, release, lambda co: dict(before), outcome.commit)

    def live(self, env: Environment) -> Optional[Deployed]:
        """What the deploy branch records for env (without deploy.gitops, which validate refuses: this machine's)."""
        repo = self.ctx.repo()
        if repo is None:
            return state.load(self.config.root, env.name)
        return GitOpsFlow(self.ctx, repo).deployed(env.name)

    def unchanged(self, env: Environment, release: Release) -> bool:
        return True  # the commit pins the digest; the manifests around it are rendered the same from ml.yaml
