"""`ml-ci deploy` and `ml-ci promote`: resolve the inputs, then deploy by the environment's kind
and the deploy strategy (local Docker, GitOps commit, or server-side apply)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Optional

from ml_ci.build.plan import LABEL_PREFIX
from ml_ci.config.gitops_remote import ALLOW_HTTP_ENV, insecure_http, missing_repository, resolve_remote
from ml_ci.config.model import Config, Deploy, Environment
from ml_ci.deploy import gitops, manifests, registry, smoke, state, tree
from ml_ci.deploy.imageref import ImageRef, parse
from ml_ci.deploy.records import (
    PASSING_VERDICTS,
    Release,
    SmokeResult,
    golden_examples,
    image_from_record,
    read_json,
    verdict_of,
)
from ml_ci.errors import ConfigError, DeployError, Problem
from ml_ci.pipeline.layout import Layout

MODEL_LABEL = f"{LABEL_PREFIX}.model.sha256"  # set by `ml-ci build`: the digest of the model file the image serves


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What a deploy ships: the image, its evaluation record and its golden examples."""

    image: ImageRef
    eval_record: Any
    golden: Any  # golden.json as read, or None when there is none
    source: str = "deploy"
    model_sha256: Optional[str] = None  # of the served model file (export/model.json): what the server must report


@dataclass(frozen=True)
class Result:
    release: Release
    changed: bool
    message: str
    commit: Optional[str] = None
    pull_request: Optional[str] = None


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


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


def build_inputs(config: Config, image: Optional[str]) -> Inputs:
    """The inputs of a fresh deploy: --image or build/image.json, evaluate/eval.json, export/golden.json."""
    layout = Layout(config.root)
    if image:
        ref = parse(image)
    else:
        ref = image_from_record(
            read_json(layout.image_record, "the image record", "run `ml-ci build --push` or pass --image"),
            str(layout.image_record),
        )
    eval_record = read_json(layout.eval_record, "the evaluation record", "run `ml-ci evaluate` first")
    golden_path = layout.export_dir / "golden.json"
    golden = read_json(golden_path, "golden examples", "") if golden_path.is_file() else None
    model_path = layout.export_dir / "model.json"
    model = read_json(model_path, "the model manifest", "") if model_path.is_file() else {}
    sha = model.get("sha256") if isinstance(model, dict) else None
    return Inputs(image=ref, eval_record=eval_record, golden=golden, model_sha256=sha if isinstance(sha, str) else None)


class Deployer:
    def __init__(
        self,
        config: Config,
        environ: Mapping[str, str],
        *,
        kube: Any = None,
        check_registry: bool = True,
        watch_timeout: Optional[float] = None,
        docker: Any = None,
        log: Callable[[str], None] = print,
    ):
        self.config = config
        self.environ = environ
        self.kube = kube
        self.check_registry = check_registry
        self.watch_timeout = watch_timeout
        self.docker = docker
        self.log = log
        self.deploy_cfg = deploy_section(config)

    # -- shared pieces ---------------------------------------------------------------------
    def repo(self) -> Optional[gitops.GitOpsRepo]:
        g = self.deploy_cfg.gitops
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

    def _smoke(
        self, env: Environment, inputs: Inputs, base_url: str, alive: Callable[[], bool] = lambda: True
    ) -> smoke.SmokeReport:
        assert inputs.golden is not None  # deploy() refuses a smoke test without golden examples up front
        golden = golden_examples(inputs.golden, "golden.json")
        return smoke.run(
            base_url,
            golden,
            env.smoke_test.golden_examples,
            env.smoke_test.timeout_seconds,
            batch=self.config.serve.max_texts,
            model_sha256=inputs.model_sha256,
            alive=alive,
        )

    def _release(self, env: Environment, inputs: Inputs, smoke_result: SmokeResult, previous: Optional[str]) -> Release:
        return Release(
            environment=env.name,
            image=str(inputs.image),
            verdict=verdict_of(inputs.eval_record),
            smoke=smoke_result,
            status="live" if smoke_result != "pending" else "pending",
            deployed_at=now(),
            source=inputs.source,
            previous=previous,
            extra={"model_sha256": inputs.model_sha256} if inputs.model_sha256 else {},
        )

    def _edit(self, env: Environment, inputs: Inputs, release: Release, message: str) -> gitops.Edit:
        return gitops.Edit(
            tree.environment_tree(self.config, env, inputs.image, release, inputs.eval_record, inputs.golden), message
        )

    def _current(self, checkout: gitops.Checkout, env: str) -> Optional[Release]:
        path = f"{tree.overlay_dir(self.config, env)}/{tree.RELEASE}"
        text = checkout.read(path)
        return Release.from_json(text, path) if text else None

    @staticmethod
    def _previous(current: Optional[Release]) -> Optional[str]:
        if current is None:
            return None
        return current.image if current.good else current.previous

    # -- deploy ----------------------------------------------------------------------------
    def deploy(self, env_name: str, inputs: Inputs) -> Result:
        env = environment(self.config, env_name)
        verdict = verdict_of(inputs.eval_record)
        if verdict not in PASSING_VERDICTS:
            raise DeployError(
                f"the evaluation record's verdict is {verdict!r}: only a model whose quality gates passed "
                "is deployed (run `ml-ci evaluate`)"
            )
        if env.smoke_test.enabled and (env.kind == "local" or env.url) and inputs.golden is None:
            # Checked before anything changes: a smoke test that cannot run must not strand a half-made deploy.
            raise DeployError(
                f"{env.name}: the smoke test needs golden examples (export/golden.json); run `ml-ci export`"
                " or set smoke_test.enabled: false for this environment"
            )
        if self.check_registry:
            auth = registry.credentials(self.config.image, self.environ)
            registry.check_digest(inputs.image, auth=auth)
            inputs = self._matched(inputs, registry.labels(inputs.image, auth=auth).get(MODEL_LABEL))
        if env.kind == "local":
            return self._deploy_local(env, inputs)
        if self.deploy_cfg.strategy == "apply":
            return self._deploy_apply(env, inputs)
        return self._deploy_gitops(env, inputs)

    def _matched(self, inputs: Inputs, labelled: Optional[str]) -> Inputs:
        """The records deployed beside an image (eval.json, golden.json, the model digest the smoke test expects)
        must describe the model inside it: the image's own label says which that is."""
        if labelled is None:
            if inputs.model_sha256:
                self.log(
                    f"warning: {inputs.image.short} has no {MODEL_LABEL} label (not built by `ml-ci build`?): "
                    "cannot check that its model is the one the records describe; the smoke test still asks the server"
                )
            return inputs
        if inputs.model_sha256 is None:
            return replace(inputs, model_sha256=labelled)
        if labelled != inputs.model_sha256:
            where = "export/model.json" if inputs.source == "deploy" else f"the release record of {inputs.source.split(':')[-1]}"
            raise DeployError(
                f"{inputs.image}: the image serves model sha256:{labelled} (its {MODEL_LABEL} label), but "
                f"the records to deploy with it describe model sha256:{inputs.model_sha256} ({where}, with "
                "its eval.json and golden.json); deploy the image built from these records, or export and "
                "evaluate the model it holds"
            )
        return inputs

    def _recorded(self, env: Environment) -> Optional[Release]:
        """What this machine recorded for env, else what the GitOps repository does (a CI job starts without
        .ml-ci/state: the repository is what says that the running container is a good release)."""
        local = state.load(self.config.root, env.name)
        if local is not None or self.deploy_cfg.gitops is None:
            return local[0] if local else None
        repo = self.repo()
        assert repo is not None
        with repo.snapshot() as co:
            return self._current(co, env.name)

    def _deploy_local(self, env: Environment, inputs: Inputs) -> Result:
        """Candidate smoke test, then the record (a GitOps commit when configured), then the swap: a refused
        push leaves the old container serving, and a swap that fails is reverted in git as well. With
        approval: true (which validate allows only where the record lives in a GitOps repository) the first
        deploy of a digest is a review branch and starts nothing; the one after its merge runs it (_complete)."""
        from ml_ci.deploy.local import LocalEngine, docker_client

        if env.port is None:
            raise ConfigError(
                [Problem(str(self.config.path), 0, 0, f"deploy.environments.{env.name}.port", "a local environment needs a port")]
            )
        engine = LocalEngine(
            self.docker or docker_client(), self.config.name, env.name, drain_seconds=self.config.serve.drain_seconds
        )
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
        check = self._local_check(env, inputs)
        repo = self.repo()
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
        if env.approval and repo is not None:
            with repo.snapshot() as co:
                current = self._current(co, env.name)
            if current is not None and current.image == str(inputs.image) and current.status == "pending":
                # A merged review (the merge is the approval): start it here, as Argo CD would roll it out there.
                return self._complete(repo, env, inputs, current, lambda: self._run_local(engine, env, inputs, check))
            if not (current is not None and current.image == str(inputs.image) and current.good):
                return self._propose(repo, env, inputs)
            # Approved and recorded live already (a fresh runner, a container removed): run it again, no review.

        report = engine.trial(inputs.image, check)
        release = self._release(env, inputs, "passed" if env.smoke_test.enabled else "skipped", previous)
        before: dict[str, str] = {}
        outcome = None
        if repo is not None:
            overlay = tree.overlay_dir(self.config, env.name)

            def decide(co: gitops.Checkout) -> gitops.Edit:
                before.clear()
                before.update(co.files(overlay))
                return self._edit(env, inputs, release, f"{env.name}: {self.config.name} {inputs.image.short} ({inputs.source})")

            outcome = repo.update(decide)
        try:
            container = engine.swap(inputs.image, env.port, env.smoke_test.timeout_seconds)
        except DeployError as e:
            if repo is not None and outcome is not None and outcome.changed:
                failed = release.with_(status="failed", reason=str(e).splitlines()[0].removeprefix(f"{env.name}: "))
                repo.update(lambda co: self._revert(co, env, inputs, before, failed))
            raise
        state.save(self.config.root, release, inputs.eval_record, inputs.golden)
        return Result(
            release,
            True,
            f"{env.name}: {container} serves {inputs.image.short} at http://127.0.0.1:{env.port}; {report.summary()}",
            outcome.commit if outcome else None,
        )

    def _local_check(self, env: Environment, inputs: Inputs) -> Callable[[str, Callable[[], bool]], smoke.SmokeReport]:
        """How a local candidate is checked: the smoke test, or (smoke_test.enabled: false) /readyz alone."""

        def check(url: str, alive: Callable[[], bool]) -> smoke.SmokeReport:
            if not env.smoke_test.enabled:
                problem = smoke.wait_ready(url, env.smoke_test.timeout_seconds, alive=alive)
                return smoke.SmokeReport(problem is None, 0, (problem,) if problem else ())
            return self._smoke(env, inputs, url, alive)

        return check

    @staticmethod
    def _run_local(
        engine: Any, env: Environment, inputs: Inputs, check: Callable[[str, Callable[[], bool]], smoke.SmokeReport]
    ) -> smoke.SmokeReport:
        """Trial, then swap, as one check whose failure _smoke_and_record reverts in git: a failed trial never
        touched the running container and a failed swap restored it, so what ran before still serves."""
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

    def _deploy_gitops(self, env: Environment, inputs: Inputs) -> Result:
        repo = self.repo()
        if repo is None:
            raise ConfigError(
                [Problem(str(self.config.path), 0, 0, "deploy.gitops", "strategy gitops needs deploy.gitops (repo and path)")]
            )
        with repo.snapshot() as co:
            current = self._current(co, env.name)
        if current is not None and current.image == str(inputs.image):
            if current.status == "live":
                return Result(current, False, f"{env.name} already runs {inputs.image.short}; no new commit")
            if current.status == "pending":
                # On the branch and not yet live: a merged review (the merge is the approval), or a deploy that
                # stopped before its smoke test. Either way what Argo CD / Flux rolls out is this digest: finish it.
                return self._complete(repo, env, inputs, current)
        if env.approval:
            return self._propose(repo, env, inputs)
        can_smoke = env.smoke_test.enabled and env.url is not None
        smoke_state: SmokeResult = "pending" if can_smoke else ("skipped" if not env.smoke_test.enabled else "not-run")
        before: dict[str, str] = {}
        overlay = tree.overlay_dir(self.config, env.name)
        message = f"{env.name}: {self.config.name} {inputs.image.short} ({inputs.source})"
        release_box: list[Release] = []

        def decide(co: gitops.Checkout) -> Optional[gitops.Edit]:
            current = self._current(co, env.name)
            if current is not None and current.image == str(inputs.image) and current.status == "live":
                return None  # the same digest is already what runs: no commit
            before.clear()
            before.update(co.files(overlay))
            release = self._release(env, inputs, smoke_state, self._previous(current))
            release_box[:] = [release]
            return self._edit(env, inputs, release, message)

        outcome = repo.update(decide)
        if not outcome.changed:
            with repo.snapshot() as co:
                current = self._current(co, env.name)
            assert current is not None
            return Result(current, False, f"{env.name} already runs {inputs.image.short}; no new commit")
        release = release_box[0]
        state.save(self.config.root, release, inputs.eval_record, inputs.golden)
        if not can_smoke:
            note = "" if smoke_state == "skipped" else " (no smoke test: the environment has no url)"
            return Result(release, True, f"{env.name}: committed {inputs.image.short} to {repo.branch}{note}", outcome.commit)
        return self._smoke_and_record(repo, env, inputs, release, lambda co: dict(before), outcome.commit)

    def _smoke_and_record(
        self,
        repo: gitops.GitOpsRepo,
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
        if check is None:
            assert env.url is not None
            url = env.url
            check = lambda: self._smoke(env, inputs, url)  # noqa: E731
        report = check()
        if report.passed:
            smoked: SmokeResult = "passed" if env.smoke_test.enabled else "skipped"
            final = pending.with_(smoke=smoked, status="live", reason=None)
            marked = repo.update(
                lambda co: self._mark(co, env, final, pending, f"{env.name}: {inputs.image.short} passed its smoke test")
            )
            state.save(self.config.root, final, inputs.eval_record, inputs.golden)
            return Result(
                final, True, f"{env.name}: {done}{inputs.image.short} is live; {report.summary()}", commit or marked.commit
            )
        failed = pending.with_(smoke="failed", status="reverted", reason=report.summary())
        revert = repo.update(lambda co: self._revert(co, env, inputs, before(co), failed))
        state.save(self.config.root, failed, inputs.eval_record, inputs.golden)
        back = f"reverted to {failed.previous}" if failed.previous else "there was no earlier good digest to return to"
        raise DeployError(f"{env.name}: {report.summary()}; {back} (commit {(revert.commit or '')[:12]})")

    def _complete(
        self,
        repo: gitops.GitOpsRepo,
        env: Environment,
        inputs: Inputs,
        pending: Release,
        check: Optional[Callable[[], smoke.SmokeReport]] = None,
    ) -> Result:
        """The branch pins this digest for env, recorded pending: a review that was merged (with approval: true the
        merge is the approval) or a deploy that stopped early. Smoke-test it and record it live (a commit that
        touches release.json only: the reviewed files stay as merged), or revert it; then drop the review branch.
        `check` (kind: local) starts the environment's container and smoke-tests it."""
        overlay = tree.overlay_dir(self.config, env.name)
        if check is not None or (env.smoke_test.enabled and env.url is not None):
            result = self._smoke_and_record(
                repo,
                env,
                inputs,
                pending,
                lambda co: co.files_before(overlay, tree.RELEASE, pending.image),
                None,
                done="approved; " if env.approval else "",
                check=check,
            )
        else:
            final = pending.with_(status="live", reason=None)
            marked = repo.update(lambda co: self._mark(co, env, final, pending, f"{env.name}: {inputs.image.short} is live"))
            state.save(self.config.root, final, inputs.eval_record, inputs.golden)
            why = " (no smoke test: the environment has no url)" if env.smoke_test.enabled else ""
            result = Result(
                final, True, f"{env.name}: {'approved; ' if env.approval else ''}{inputs.image.short} is live{why}", marked.commit
            )
        if env.approval:
            self._drop_review(repo, self._review_branch(env, inputs))
        return result

    @staticmethod
    def _review_branch(env: Environment, inputs: Inputs) -> str:
        return f"ml-ci/{env.name}/{inputs.image.short}"

    def _propose(self, repo: gitops.GitOpsRepo, env: Environment, inputs: Inputs) -> Result:
        """approval: true: the change goes to a review branch (and a pull request on GitHub), recorded pending.
        Merging it is the approval; the next deploy or promote of the digest then completes it (_complete)."""
        branch = self._review_branch(env, inputs)
        with repo.snapshot(branch) as co:
            proposed = self._current(co, env.name)
        if proposed is not None and proposed.image == str(inputs.image) and proposed.status == "pending":
            pr = self._review(branch, env, inputs)
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
            current = self._current(co, env.name)
            release = self._release(env, inputs, smoke_state, self._previous(current)).with_(
                status="pending",
                reason=f"awaiting approval: merging {branch} approves it, and the next deploy or "
                "promote of this digest records it live",
            )
            release_box[:] = [release]
            return self._edit(env, inputs, release, f"{env.name}: {self.config.name} {inputs.image.short} ({inputs.source})")

        outcome = repo.update(decide, branch=branch)
        pr = self._review(branch, env, inputs)
        return Result(
            release_box[0],
            True,
            f"{env.name} needs approval: merge {pr or 'branch ' + branch} to deploy "
            f"{inputs.image.short}, then run this again to record it live",
            outcome.commit,
            pr,
        )

    def _drop_review(self, repo: gitops.GitOpsRepo, branch: str) -> None:
        """A completed review's branch goes, so that a later review of the same digest starts fresh."""
        try:
            repo.delete_branch(branch)
        except DeployError as e:
            self.log(f"warning: could not delete the review branch {branch}: {e}")

    def _mark(
        self, co: gitops.Checkout, env: Environment, final: Release, pending: Release, message: str
    ) -> Optional[gitops.Edit]:
        current = self._current(co, env.name)
        if current is None or current.image != pending.image or current.status != "pending":
            return None  # a later deploy moved on: its record wins
        overlay = tree.overlay_dir(self.config, env.name)
        return gitops.Edit({overlay: {**co.files(overlay), tree.RELEASE: final.to_json()}}, message)

    def _revert(
        self, co: gitops.Checkout, env: Environment, inputs: Inputs, before: dict[str, str], failed: Release
    ) -> Optional[gitops.Edit]:
        current = self._current(co, env.name)
        if current is None or current.image != failed.image:
            return None
        msg = f"{env.name}: revert {inputs.image.short}: {failed.reason}"
        if before:
            return gitops.Edit({tree.overlay_dir(self.config, env.name): before}, msg)
        return self._edit(env, inputs, failed, msg)  # nothing good before: keep the record, marked failed

    def _review(self, branch: str, env: Environment, inputs: Inputs) -> Optional[str]:
        from ml_ci.deploy import github

        repo = self.repo()
        assert repo is not None and self.deploy_cfg.gitops is not None
        if repo.remote.kind != "github" or repo.remote.slug is None:
            return None
        body = (
            f"Deploys `{inputs.image}` to **{env.name}** (verdict {verdict_of(inputs.eval_record)}).\n\n"
            "Opened by `ml-ci deploy`; merging it lets Argo CD / Flux roll it out."
        )
        return github.open_pull_request(
            self.environ,
            self.deploy_cfg.gitops.token_env,
            repo.remote.slug,
            base=repo.branch,
            head=branch,
            title=f"Deploy {self.config.name} {inputs.image.short} to {env.name}",
            body=body,
        )

    def _deploy_apply(self, env: Environment, inputs: Inputs) -> Result:
        from ml_ci.deploy.apply import Kube, api_client, apply_all, current_image, watch

        kube = self.kube or Kube(api_client(self.environ))
        objs = manifests.render(self.config, env, inputs.image)
        dep = objs[0]
        meta = dep["metadata"]
        previous = current_image(kube.get_deployment(meta["namespace"], meta["name"]))
        fingerprint = self._fingerprint(objs)
        if previous == str(inputs.image):
            recorded = self._live_in_cluster(env)
            if (
                recorded is not None
                and recorded[0].image == previous
                and recorded[0].good
                and recorded[0].extra.get("manifests_sha256") == fingerprint
            ):
                # The same digest with the same manifests: applying again would only add noise (and a watch).
                return Result(
                    recorded[0], False, f"{env.name} already runs {inputs.image.short} in {env.k8s_namespace}; nothing applied"
                )
        apply_all(kube, objs)
        timeout = self.watch_timeout or float(dep["spec"]["progressDeadlineSeconds"]) + 30
        outcome = watch(kube, dep, str(inputs.image), timeout=timeout)
        reason = None if outcome.ok else outcome.message
        smoke_state: SmokeResult = "skipped" if not env.smoke_test.enabled else "not-run"
        if reason is None and env.smoke_test.enabled and env.url:
            report = self._smoke(env, inputs, env.url)
            smoke_state = "passed" if report.passed else "failed"
            reason = None if report.passed else report.summary()
        if reason is not None:
            raise DeployError(f"{env.name}: {reason}; {self._rollback(kube, dep, previous)}")
        release = self._release(env, inputs, smoke_state, previous)
        release = release.with_(extra={**release.extra, "manifests_sha256": fingerprint})
        kube.apply(manifests.release_record(self.config, env, self._record_files(release, inputs)))
        state.save(self.config.root, release, inputs.eval_record, inputs.golden)
        return Result(release, True, f"{env.name}: {inputs.image.short} rolled out in {env.k8s_namespace}: {outcome.message}")

    @staticmethod
    def _fingerprint(objs: list[dict[str, Any]]) -> str:
        """What `strategy: apply` applies, as one digest: the same image with other settings is still a change."""
        return hashlib.sha256(json.dumps(objs, sort_keys=True).encode()).hexdigest()

    def _applies_the_same(self, env: Environment, release: Release) -> bool:
        """Would a deploy of release's image to env apply what its record says was applied? (Always, but for
        `strategy: apply` to Kubernetes, whose record carries the manifests' fingerprint.)"""
        if env.kind == "local" or self.deploy_cfg.strategy != "apply":
            return True
        return release.extra.get("manifests_sha256") == self._fingerprint(manifests.render(self.config, env, release.ref))

    @staticmethod
    def _record_files(release: Release, inputs: Inputs) -> dict[str, str]:
        # Per-example predictions can outgrow a ConfigMap (1 MiB); the gates and metrics are what promotion reads.
        compact = (
            {k: v for k, v in inputs.eval_record.items() if k != "predictions"}
            if isinstance(inputs.eval_record, dict)
            else inputs.eval_record
        )
        files = {tree.RELEASE: release.to_json(), tree.EVAL: json.dumps(compact, sort_keys=True)}
        if inputs.golden is not None:
            files[tree.GOLDEN] = json.dumps(inputs.golden, sort_keys=True)
        return files

    @staticmethod
    def _rollback(kube: Any, dep: dict[str, Any], previous: Optional[str]) -> str:
        if previous is None:
            return "there was no previous image to roll back to"
        back = json.loads(json.dumps(dep))
        back["spec"]["template"]["spec"]["containers"][0]["image"] = previous
        kube.apply(back)
        return f"rolled back to {previous}"

    # -- promote ---------------------------------------------------------------------------
    def live(self, env: Environment) -> Optional[tuple[Release, Any, Any]]:
        """What runs in env, with its eval record and golden examples: from the GitOps repository; else the
        state folder; else, under `strategy: apply`, the release ConfigMap in the cluster (as on a CI runner
        that did not make the deploy)."""
        repo = self.repo()
        if repo is None:
            local = state.load(self.config.root, env.name)
            if local is not None or env.kind == "local" or self.deploy_cfg.strategy != "apply":
                return local
            return self._live_in_cluster(env)
        with repo.snapshot() as co:
            current = self._current(co, env.name)
            if current is None:
                return None
            folder = tree.overlay_dir(self.config, env.name)
            eval_text, golden_text = co.read(f"{folder}/{tree.EVAL}"), co.read(f"{folder}/{tree.GOLDEN}")
        return current, json.loads(eval_text or "{}"), json.loads(golden_text) if golden_text else None

    def _live_in_cluster(self, env: Environment) -> Optional[tuple[Release, Any, Any]]:
        from ml_ci.deploy.apply import Kube, api_client

        name = f"{self.config.name}-ml-ci-release"
        try:
            kube = self.kube or Kube(api_client(self.environ))
            cm = kube.get_configmap(env.k8s_namespace, name)
        except DeployError as e:
            raise DeployError(f"cannot tell what runs in {env.name} (no local record, and the cluster says: {e})") from None
        data = (cm or {}).get("data") or {}
        if tree.RELEASE not in data:
            return None
        where = f"ConfigMap {env.k8s_namespace}/{name}"
        golden = json.loads(data[tree.GOLDEN]) if tree.GOLDEN in data else None
        return Release.from_json(data[tree.RELEASE], where), json.loads(data.get(tree.EVAL) or "{}"), golden

    def health(self, env: Environment) -> Optional[str]:
        if env.kind == "local":
            from ml_ci.deploy.local import LocalEngine, docker_client

            assert env.port is not None
            return LocalEngine(
                self.docker or docker_client(), self.config.name, env.name, drain_seconds=self.config.serve.drain_seconds
            ).healthy(env.port)
        if env.url:
            return smoke.wait_ready(env.url.rstrip("/"), 10)
        return None  # nothing to ask: the record's status stands

    def promote(self, source: str, target: str) -> Result:
        """Deploy to `target` exactly what is live and healthy in `source`: same digest, same records, no rebuild."""
        from ml_ci.deploy import promotion

        src_env, dst_env = environment(self.config, source), environment(self.config, target)
        if src_env.name == dst_env.name:
            raise ConfigError(
                [
                    Problem(
                        str(self.config.path),
                        0,
                        0,
                        "deploy.environments",
                        f"cannot promote {source} to itself; name two environments",
                    )
                ]
            )
        live = self.live(src_env)
        health = self.health(src_env) if live is not None and live[0].status == "live" else None
        why = promotion.refusal(source, live[0] if live else None, health)
        if why is not None or live is None:
            raise DeployError(f"refusing to promote {source} -> {target}: {why}")
        release, eval_record, golden = live
        there = self.live(dst_env)
        if (
            there is not None
            and there[0].image == release.image
            and there[0].status == "live"
            and self._applies_the_same(dst_env, there[0])
            and self.health(dst_env) is None
        ):
            # Checked before a GitHub Deployment is opened: an unchanged digest leaves no trace anywhere.
            return Result(
                there[0], False, f"{target} already runs {release.ref.short} (the digest live in {source}); nothing to do"
            )
        sha = release.extra.get("model_sha256")
        inputs = Inputs(
            image=release.ref,
            eval_record=eval_record,
            golden=golden,
            source=f"promote:{source}",
            model_sha256=sha if isinstance(sha, str) else None,
        )
        record = self._github(
            lambda gh: gh.start_deployment(
                self.environ,
                environment=target,
                ref=self.environ.get("GITHUB_SHA") or release.digest,
                image=release.image,
                description=f"promote {release.ref.short} from {source}",
            )
        )
        try:
            result = self.deploy(target, inputs)
        except DeployError as e:
            reason = str(e)
            if record is not None:
                self._github(lambda gh: gh.finish_deployment(record, "failure", reason))
            raise
        if record is not None:
            url = dst_env.url or (f"http://127.0.0.1:{dst_env.port}" if dst_env.kind == "local" and dst_env.port else None)
            state_ = "success" if result.release.status == "live" else "pending"
            self._github(lambda gh: gh.finish_deployment(record, state_, result.message, url))
            self.log(f"recorded GitHub deployment {record.url} ({state_})")
        return result

    def _github(self, call: Callable[[Any], Any]) -> Any:
        """Run a GitHub Deployments call (ml_ci.deploy.github); a failure there is a warning, never a failed deploy."""
        from ml_ci.deploy import github

        try:
            return call(github)
        except Exception as e:  # github3 raises its own hierarchy; what it records does not change what runs
            self.log(f"warning: could not record the GitHub deployment: {e}")
            return None
