"""Config -> the generated files' text, keyed by path relative to the model repository (pure)."""

from __future__ import annotations

import shlex

from ml_ci.config.model import Config
from ml_ci.generate import header, lintconfig, vendor, yamlout
from ml_ci.generate.options import Options
from ml_ci.generate.workflows import pr_workflow, release_workflow

PR_FILE = ".github/workflows/ml-pr.yml"
RELEASE_FILE = ".github/workflows/ml-release.yml"
GENERATED = (PR_FILE, RELEASE_FILE)
# Folders (and files) whose generated files ml-ci removes once it no longer writes them (an action the
# workflows stopped using, or all of them after a switch to --actions-ref <sha>; the actionlint
# configuration once ml.yaml names no custom runner label).
MANAGED_DIRS = (vendor.VENDOR_PATH, lintconfig.ACTIONLINT_FILE)


def regenerate_command(config: Config, options: Options) -> str:
    return shlex.join(["ml-ci", "generate", "-c", config.path.name, *options.cli_args()])


def render(config: Config, options: Options) -> dict[str, str]:
    command = regenerate_command(config, options)
    workflows = {PR_FILE: pr_workflow(config, options), RELEASE_FILE: release_workflow(config, options)}
    out = {
        path: header.with_header(yamlout.dump(wf.data()), source=config.path.name, regenerate=command)
        for path, wf in workflows.items()
    }
    if options.vendored:
        used = workflows.values()
        out.update(
            vendor.vendored_files(
                vendor.used_actions(used, options), regenerate=command, locks=vendor.used_profiles(used, options)
            )
        )
    lint = lintconfig.actionlint_config(config)
    if lint is not None:
        out[lintconfig.ACTIONLINT_FILE] = header.with_header(lint, source=config.path.name, regenerate=command)
    return out
