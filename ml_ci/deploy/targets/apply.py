"""`strategy: apply`: server-side apply of the environment's manifests, a rollout watch, the smoke test at
its url, and a rollback to the previous image when either fails. What runs is recorded in the cluster (a
ConfigMap beside the Deployment) and on this machine."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from ml_ci.config.model import Environment
from ml_ci.deploy import manifests, state
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.deploy.targets.cluster import AtItsUrl
from ml_ci.errors import DeployError
from ml_ci.records.release import EVAL, GOLDEN, RELEASE, Deployed, Release, SmokeResult


class ApplyTarget(AtItsUrl):
    def _kube(self) -> Any:
        from ml_ci.deploy.apply import Kube, api_client

        return self.ctx.kube or Kube(api_client(self.ctx.environ))

    def deploy(self, env: Environment, inputs: Inputs) -> Result:
        from ml_ci.deploy.apply import apply_all, current_image, watch

        kube = self._kube()
        objs = manifests.render(self.config, env, inputs.image)
        dep = objs[0]
        meta = dep["metadata"]
        previous = current_image(kube.get_deployment(meta["namespace"], meta["name"]))
        fingerprint = self._fingerprint(objs)
        if previous == str(inputs.image):
            recorded = self._in_cluster(env)
            if (
                recorded is not None
                and recorded.release.image == previous
                and recorded.release.good
                and recorded.release.manifests_sha256 == fingerprint
            ):
                # The same digest with the same manifests: applying again would only add noise (and a watch).
                return Result(
                    recorded.release,
                    False,
                    f"{env.name} already runs {inputs.image.short} in {env.k8s_namespace}; nothing applied",
                )
        apply_all(kube, objs)
        timeout = self.ctx.watch_timeout or float(dep["spec"]["progressDeadlineSeconds"]) + 30
        outcome = watch(kube, dep, str(inputs.image), timeout=timeout)
        reason = None if outcome.ok else outcome.message
        smoke_state: SmokeResult = "skipped" if not env.smoke_test.enabled else "not-run"
        if reason is None and env.smoke_test.enabled and env.url:
            report = self.ctx.smoke(env, inputs, env.url)
            smoke_state = "passed" if report.passed else "failed"
            reason = None if report.passed else report.summary()
        if reason is not None:
            raise DeployError(f"{env.name}: {reason}; {self._rollback(kube, dep, previous)}")
        release = self.ctx.release(env, inputs, smoke_state, previous).with_manifests_sha256(fingerprint)
        deployed = Deployed(release=release, eval_record=inputs.eval_record, golden=inputs.golden)
        kube.apply(manifests.release_record(self.config, env, deployed.compact_files()))
        self.ctx.save(release, inputs)
        return Result(release, True, f"{env.name}: {inputs.image.short} rolled out in {env.k8s_namespace}: {outcome.message}")

    @staticmethod
    def _fingerprint(objs: list[dict[str, Any]]) -> str:
        """What `strategy: apply` applies, as one digest: the same image with other settings is still a change."""
        return hashlib.sha256(json.dumps(objs, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _rollback(kube: Any, dep: dict[str, Any], previous: Optional[str]) -> str:
        if previous is None:
            return "there was no previous image to roll back to"
        back = json.loads(json.dumps(dep))
        back["spec"]["template"]["spec"]["containers"][0]["image"] = previous
        kube.apply(back)
        return f"rolled back to {previous}"

    def live(self, env: Environment) -> Optional[Deployed]:
        """What this machine recorded for env; else the release ConfigMap in the cluster (as on a CI runner
        that did not make the deploy)."""
        local = state.load(self.config.root, env.name)
        if local is not None:
            return local
        return self._in_cluster(env)

    def _in_cluster(self, env: Environment) -> Optional[Deployed]:
        name = f"{self.config.name}-ml-ci-release"
        try:
            cm = self._kube().get_configmap(env.k8s_namespace, name)
        except DeployError as e:
            raise DeployError(f"cannot tell what runs in {env.name} (no local record, and the cluster says: {e})") from None
        data = (cm or {}).get("data") or {}
        if RELEASE not in data:
            return None
        return Deployed.from_texts(data[RELEASE], data.get(EVAL), data.get(GOLDEN), f"ConfigMap {env.k8s_namespace}/{name}")

    def unchanged(self, env: Environment, release: Release) -> bool:
        """Whether the record's manifests fingerprint is that of what a deploy of its image would apply now."""
        return release.manifests_sha256 == self._fingerprint(manifests.render(self.config, env, release.ref))
