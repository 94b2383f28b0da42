"""Baselines for the evaluate job's relative gates (`against: production`, `against: main`).

production: the GitOps repository holds eval.json beside the production overlay; the job checks
it out read-only and passes --gitops-dir. main: the release workflow saves each successful
evaluation in the Actions cache under a key of its branch; a pull request may read the caches of
its base branch, and restores the newest one (restore-keys match the key's prefix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ml_ci.config.model import Config
from ml_ci.generate import pins
from ml_ci.generate.model import Step
from ml_ci.generate.yamlout import Value
from ml_ci.pipeline.layout import IN_REPO

GITOPS_DIR = ".ml-ci/baselines/gitops"
# Holds a read-only token for the GitOps repository under deploy.gitops.token_env: the deploy
# environments hold the one that may push, and the evaluate job must not get that.
GITOPS_READ_ENVIRONMENT = "ml-ci-gitops-read"
MAIN_DIR = ".ml-ci/baselines/main"  # the cache's path: saving and restoring must name the same one
# As ml_ci/deploy/git.py reads deploy.gitops.repo: owner/name unless it ends in .git or is a local folder.
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+$")
_GITHUB_URL = re.compile(r"^https://github\.com/([A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]+?)(?:\.git)?/?$")

KEEP_EVAL = f"""\
set -euo pipefail
mkdir -p {MAIN_DIR}
cp {IN_REPO.eval_record.as_posix()} {MAIN_DIR}/eval.json
"""


def _against(config: Config) -> set[str]:
    gates = [*config.evaluate.gates, *(g for s in config.evaluate.slices for g in s.gates)]
    return {g.against for g in gates if g.against}


def gitops_slug(config: Config) -> str | None:
    """owner/name of the GitOps repository on GitHub, or None (a local path, another host)."""
    deploy = config.deploy
    if deploy is None or deploy.strategy != "gitops" or deploy.gitops is None:
        return None
    repo = deploy.gitops.repo
    url = _GITHUB_URL.match(repo)
    if url:
        return url.group(1)
    if _SLUG.match(repo) and not repo.endswith(".git") and not (config.root / repo).exists():
        return repo
    return None


def uses_main(config: Config) -> bool:
    return "main" in _against(config)


def _main_key_prefix(config: Config, branch: str) -> str:
    return f"ml-ci-eval-{config.name}-{branch}-"


@dataclass(frozen=True)
class EvaluateBaselines:
    """Steps before `ml-ci evaluate`, the inputs that point it at what they fetched, steps after it,
    and the environment whose secret the GitOps checkout reads."""

    before: tuple[Step, ...]
    inputs: Mapping[str, Value]
    after: tuple[Step, ...]
    environment: str | None


def for_pr(config: Config) -> EvaluateBaselines:
    before, inputs = _gitops(config)
    if uses_main(config):
        prefix = _main_key_prefix(config, "${{ github.base_ref }}")
        before += (
            Step(
                name="Restore the latest evaluation on the base branch",
                id="main-baseline",
                uses=pins.CACHE_RESTORE.uses(),
                with_={"path": MAIN_DIR, "key": prefix + "${{ github.run_id }}", "restore-keys": prefix},
            ),
        )
        # No evaluation on main yet: no baseline, and the gate says so.
        inputs = {
            **inputs,
            "main-baseline": f"${{{{ steps.main-baseline.outputs.cache-matched-key != '' && '{MAIN_DIR}' || '' }}}}",
        }
    return EvaluateBaselines(before, inputs, (), _environment(before))


def for_release(config: Config) -> EvaluateBaselines:
    before, inputs = _gitops(config)
    after: tuple[Step, ...] = ()
    if uses_main(config):
        # Keys are immutable: one per run, found by prefix. Only a passing evaluation becomes a baseline.
        after = (
            Step(name="Keep this evaluation as the branch's baseline", run=KEEP_EVAL),
            Step(
                name="Save the branch's baseline",
                uses=pins.CACHE_SAVE.uses(),
                with_={"path": MAIN_DIR, "key": _main_key_prefix(config, "${{ github.ref_name }}") + "${{ github.run_id }}"},
            ),
        )
    return EvaluateBaselines(before, inputs, after, _environment(before))


def _environment(before: tuple[Step, ...]) -> str | None:
    return GITOPS_READ_ENVIRONMENT if any(step.id == "gitops" for step in before) else None


def _gitops(config: Config) -> tuple[tuple[Step, ...], dict[str, Value]]:
    slug = gitops_slug(config)
    if slug is None or "production" not in _against(config) or config.deploy is None or config.deploy.gitops is None:
        return (), {}
    gitops = config.deploy.gitops
    # Read-only and best effort: without the token (a fork's PR) the gate reports no baseline
    # instead of failing the job. The token goes to checkout's input, never into a script.
    checkout = Step(
        name="Check out the GitOps repository (production's eval.json)",
        id="gitops",
        uses=pins.CHECKOUT.uses(),
        continue_on_error=True,
        with_={
            "repository": slug,
            "ref": gitops.branch,
            "path": GITOPS_DIR,
            "token": f"${{{{ secrets.{gitops.token_env} }}}}",
            "persist-credentials": False,
        },
    )
    return (checkout,), {"gitops-dir": f"${{{{ steps.gitops.outcome == 'success' && '{GITOPS_DIR}' || '' }}}}"}
