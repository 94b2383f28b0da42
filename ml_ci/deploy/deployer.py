"""`ml-ci deploy` and `ml-ci promote`: the policy. Only a gated model is deployed, and only an image in its
registry whose model is the one its records describe; a promotion copies only what is live, gated,
smoke-tested and healthy. How a digest goes live in an environment, and what runs there, is the
environment's target's business (ml_ci.deploy.targets)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Optional

from ml_ci.build.plan import LABEL_PREFIX
from ml_ci.config.model import Config, Environment
from ml_ci.deploy import promotion, registry, targets
from ml_ci.deploy.context import Context
from ml_ci.deploy.environments import deploy_section, environment
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.deploy.targets.protocol import Target
from ml_ci.errors import ConfigError, DeployError, Problem
from ml_ci.records.evaluation import verdict_of
from ml_ci.records.release import PASSING_VERDICTS

MODEL_LABEL = f"{LABEL_PREFIX}.model.sha256"  # set by `ml-ci build`: the digest of the model file the image serves


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
        self.check_registry = check_registry
        self.log = log
        self.deploy_cfg = deploy_section(config)
        self.context = Context(config=config, environ=environ, log=log, kube=kube, docker=docker, watch_timeout=watch_timeout)
        self._verified: set[str] = set()  # digests whose supply chain passed in this run (promote, then its deploy)

    def target(self, env: Environment) -> Target:
        """The target that deploys to env, from the registry."""
        return targets.get(targets.name_for(self.deploy_cfg, env), self.context)

    # -- deploy ----------------------------------------------------------------------------
    def deploy(self, env_name: str, inputs: Inputs) -> Result:
        env = environment(self.config, env_name)
        verdict = verdict_of(inputs.eval_record)
        if verdict not in PASSING_VERDICTS:
            raise DeployError(
                f"the evaluation record's verdict is {verdict!r}: only a model whose quality gates passed "
                "is deployed (run `ml-ci evaluate`)"
            )
        target = self.target(env)
        if env.smoke_test.enabled and target.smoke_reaches(env) and inputs.golden is None:
            # Checked before anything changes: a smoke test that cannot run must not strand a half-made deploy.
            raise DeployError(
                f"{env.name}: the smoke test needs golden examples (export/golden.json); run `ml-ci export`"
                " or set smoke_test.enabled: false for this environment"
            )
        if self.check_registry:
            auth = registry.credentials(self.config.image, self.environ)
            registry.check_digest(inputs.image, auth=auth)
            inputs = self._matched(inputs, registry.labels(inputs.image, auth=auth).get(MODEL_LABEL))
        self._verify_supply_chain(inputs)
        return target.deploy(env, inputs)

    def _verify_supply_chain(self, inputs: Inputs) -> None:
        """With supply_chain.verify, the image's attestations must pass (ml_ci.supply.attest) before anything
        changes: DeployError (exit 5) naming each failure. A fresh deploy in GitHub Actions also expects the
        provenance to name the workflow's commit (GITHUB_SHA: the release workflow builds and deploys one commit);
        a promotion moves what was verified when it was deployed, built from whichever commit that was."""
        sc = self.config.supply_chain
        if sc is None or not sc.verify or inputs.image.digest in self._verified:
            return
        from ml_ci.supply import attest

        commit = None
        if inputs.source == "deploy" and self.environ.get("GITHUB_ACTIONS") == "true":
            commit = self.environ.get("GITHUB_SHA") or None
        found = attest.verify_for(self.config, inputs.image, self.environ, commit=commit)
        if not found.ok:
            raise found.refusal()
        self._verified.add(inputs.image.digest)
        self.log(
            f"verified {inputs.image.short}: provenance signed by key {found.keyid} (commit {found.commit}, "
            f"eval verdict {found.verdict}), SBOM {found.sbom_sha256}"
        )

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

    # -- promote ---------------------------------------------------------------------------
    def promote(self, source: str, target: str) -> Result:
        """Deploy to `target` exactly what is live and healthy in `source`: same digest, same records, no rebuild."""
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
        src, dst = self.target(src_env), self.target(dst_env)
        live = src.live(src_env)
        health = src.health(src_env) if live is not None and live.release.status == "live" else None
        why = promotion.refusal(source, live.release if live else None, health)
        if why is not None or live is None:
            raise DeployError(f"refusing to promote {source} -> {target}: {why}")
        release = live.release
        there = dst.live(dst_env)
        if (
            there is not None
            and there.release.image == release.image
            and there.release.status == "live"
            and dst.unchanged(dst_env, there.release)
            and dst.health(dst_env) is None
        ):
            # Checked before a GitHub Deployment is opened: an unchanged digest leaves no trace anywhere.
            return Result(
                there.release, False, f"{target} already runs {release.ref.short} (the digest live in {source}); nothing to do"
            )
        inputs = Inputs(
            image=release.ref,
            eval_record=live.eval_record,
            golden=live.golden,
            source=f"promote:{source}",
            model_sha256=release.model_sha256,
        )
        # Before the GitHub Deployment is opened: a refused image leaves no trace anywhere.
        self._verify_supply_chain(inputs)
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
            url = dst.url(dst_env)
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
