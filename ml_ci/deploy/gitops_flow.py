"""The GitOps repository as the record of what runs, shared by the gitops and local targets: read an
environment's release, commit a deploy, put it up for review (approval: true), complete a merged review,
smoke-test what the branch pins and record it live, or revert it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from ml_ci.config.model import Environment
from ml_ci.deploy import gitops, smoke, tree
from ml_ci.deploy.context import Context
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.errors import DeployError
from ml_ci.records.evaluation import verdict_of
from ml_ci.records.release import EVAL, GOLDEN, RELEASE, Deployed, Release, SmokeResult


class GitOpsFlow:
    def __init__(self, ctx: Context, repo: gitops.GitOpsRepo):
        self.ctx = ctx
        self.config = ctx.config
        self.repo = repo

    def current(self, checkout: gitops.Checkout, env: str) -> Optional[Release]:
        path = f"{tree.overlay_dir(self.config, env)}/{RELEASE}"
        text = checkout.read(path)
        return Release.from_json(text, path) if text else None

    def deployed(self, env: str) -> Optional[Deployed]:
        """What the deploy branch records for env, with the records deployed beside it."""
        folder = tree.overlay_dir(self.config, env)
        path = f"{folder}/{RELEASE}"
        with self.repo.snapshot() as co:
            text = co.read(path)
            if not text:
                return None
            eval_text, golden_text = co.read(f"{folder}/{EVAL}"), co.read(f"{folder}/{GOLDEN}")
        return Deployed.from_texts(text, eval_text, golden_text, path)

    @staticmethod
    def previous(current: Optional[Release]) -> Optional[str]:
        if current is None:
            return None
        return current.image if current.good else current.previous

    def edit(self, env: Environment, inputs: Inputs, release: Release, message: str) -> gitops.Edit:
        deployed = Deployed(release=release, eval_record=inputs.eval_record, golden=inputs.golden)
        return gitops.Edit(tree.environment_tree(self.config, env, inputs.image, deployed), message)

    def smoke_and_record(
        self,
        env: Environment,
        inputs: Inputs,
        pending: Release,
        before: Callable[[gitops.Checkout], dict[str, str]],
        commit: Optional[str],
        done: str = "",
        check: Optional[Callable[[], smoke.SmokeReport]] = None,
    ) -> Result:
        """Smoke-test what the branch now pins for env (by default at its url; a local environment passes `check`,
        which starts the container); record it live, or revert the overlay to `before` (computed from the branch
        as it then is) and fail."""
        repo = self.repo
        if check is None:
            assert env.url is not None
            url = env.url
            check = lambda: self.ctx.smoke(env, inputs, url)  # noqa: E731
        report = check()
        if report.passed:
            smoked: SmokeResult = "passed" if env.smoke_test.enabled else "skipped"
            final = pending.with_(smoke=smoked, status="live", reason=None)
            marked = repo.update(
                lambda co: self.mark(co, env, final, pending, f"{env.name}: {inputs.image.short} passed its smoke test")
            )
            self.ctx.save(final, inputs)
            return Result(
                final, True, f"{env.name}: {done}{inputs.image.short} is live; {report.summary()}", commit or marked.commit
            )
        failed = pending.with_(smoke="failed", status="reverted", reason=report.summary())
        revert = repo.update(lambda co: self.revert(co, env, inputs, before(co), failed))
        self.ctx.save(failed, inputs)
        back = f"reverted to {failed.previous}" if failed.previous else "there was no earlier good digest to return to"
        raise DeployError(f"{env.name}: {report.summary()}; {back} (commit {(revert.commit or '')[:12]})")

    def complete(
        self,
        env: Environment,
        inputs: Inputs,
        pending: Release,
        check: Optional[Callable[[], smoke.SmokeReport]] = None,
    ) -> Result:
        """The branch pins this digest for env, recorded pending: a review that was merged (with approval: true the
        merge is the approval) or a deploy that stopped early. Smoke-test it and record it live (a commit that
        touches release.json only: the reviewed files stay as merged), or revert it; then drop the review branch.
        `check` (kind: local) starts the environment's container and smoke-tests it."""
        repo = self.repo
        overlay = tree.overlay_dir(self.config, env.name)
        if check is not None or (env.smoke_test.enabled and env.url is not None):
            result = self.smoke_and_record(
                env,
                inputs,
                pending,
                lambda co: co.files_before(overlay, RELEASE, pending.image),
                None,
                done="approved; " if env.approval else "",
                check=check,
            )
        else:
            final = pending.with_(status="live", reason=None)
            marked = repo.update(lambda co: self.mark(co, env, final, pending, f"{env.name}: {inputs.image.short} is live"))
            self.ctx.save(final, inputs)
            why = " (no smoke test: the environment has no url)" if env.smoke_test.enabled else ""
            result = Result(
                final, True, f"{env.name}: {'approved; ' if env.approval else ''}{inputs.image.short} is live{why}", marked.commit
            )
        if env.approval:
            self.drop_review(self.review_branch(env, inputs))
        return result

    @staticmethod
    def review_branch(env: Environment, inputs: Inputs) -> str:
        return f"ml-ci/{env.name}/{inputs.image.short}"

    def propose(self, env: Environment, inputs: Inputs) -> Result:
        """approval: true: the change goes to a review branch (and a pull request on GitHub), recorded pending.
        Merging it is the approval; the next deploy or promote of the digest then completes it (complete)."""
        repo = self.repo
        branch = self.review_branch(env, inputs)
        with repo.snapshot(branch) as co:
            proposed = self.current(co, env.name)
        if proposed is not None and proposed.image == str(inputs.image) and proposed.status == "pending":
            pr = self.review(branch, env, inputs)
            return Result(
                proposed,
                False,
                f"{env.name} needs approval: merge {pr or 'branch ' + branch} to deploy "
                f"{inputs.image.short} (already up for review; no new commit)",
                None,
                pr,
            )
        can_smoke = env.smoke_test.enabled and (env.url is not None or env.kind == "local")
        smoke_state: SmokeResult = "pending" if can_smoke else ("skipped" if not env.smoke_test.enabled else "not-run")
        release_box: list[Release] = []

        def decide(co: gitops.Checkout) -> gitops.Edit:
            current = self.current(co, env.name)
            release = self.ctx.release(env, inputs, smoke_state, self.previous(current)).with_(
                status="pending",
                reason=f"awaiting approval: merging {branch} approves it, and the next deploy or "
                "promote of this digest records it live",
            )
            release_box[:] = [release]
            return self.edit(env, inputs, release, f"{env.name}: {self.config.name} {inputs.image.short} ({inputs.source})")

        outcome = repo.update(decide, branch=branch)
        pr = self.review(branch, env, inputs)
        return Result(
            release_box[0],
            True,
            f"{env.name} needs approval: merge {pr or 'branch ' + branch} to deploy "
            f"{inputs.image.short}, then run this again to record it live",
            outcome.commit,
            pr,
        )

    def drop_review(self, branch: str) -> None:
        """A completed review's branch goes, so that a later review of the same digest starts fresh."""
        try:
            self.repo.delete_branch(branch)
        except DeployError as e:
            self.ctx.log(f"warning: could not delete the review branch {branch}: {e}")

    def mark(
        self, co: gitops.Checkout, env: Environment, final: Release, pending: Release, message: str
    ) -> Optional[gitops.Edit]:
        current = self.current(co, env.name)
        if current is None or current.image != pending.image or current.status != "pending":
            return None  # a later deploy moved on: its record wins
        overlay = tree.overlay_dir(self.config, env.name)
        return gitops.Edit({overlay: {**co.files(overlay), RELEASE: final.to_json()}}, message)

    def revert(
        self, co: gitops.Checkout, env: Environment, inputs: Inputs, before: dict[str, str], failed: Release
    ) -> Optional[gitops.Edit]:
        current = self.current(co, env.name)
        if current is None or current.image != failed.image:
            return None
        msg = f"{env.name}: revert {inputs.image.short}: {failed.reason}"
        if before:
            return gitops.Edit({tree.overlay_dir(self.config, env.name): before}, msg)
        return self.edit(env, inputs, failed, msg)  # nothing good before: keep the record, marked failed

    def review(self, branch: str, env: Environment, inputs: Inputs) -> Optional[str]:
        from ml_ci.deploy import github

        repo = self.repo
        assert self.config.deploy is not None and self.config.deploy.gitops is not None
        if repo.remote.kind != "github" or repo.remote.slug is None:
            return None
        body = (
            f"Deploys `{inputs.image}` to **{env.name}** (verdict {verdict_of(inputs.eval_record)}).\n\n"
            "Opened by `ml-ci deploy`; merging it lets Argo CD / Flux roll it out."
        )
        return github.open_pull_request(
            self.ctx.environ,
            self.config.deploy.gitops.token_env,
            repo.remote.slug,
            base=repo.branch,
            head=branch,
            title=f"Deploy {self.config.name} {inputs.image.short} to {env.name}",
            body=body,
        )
