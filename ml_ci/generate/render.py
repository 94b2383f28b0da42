"""Config -> the generated files' text, keyed by path relative to the model repository (pure)."""

from __future__ import annotations

import shlex

from ml_ci.config.model import Config
from ml_ci.generate import header, yamlout
from ml_ci.generate.options import Options
from ml_ci.generate.workflows import pr_workflow, release_workflow

PR_FILE = ".github/workflows/ml-pr.yml"
RELEASE_FILE = ".github/workflows/ml-release.yml"
GENERATED = (PR_FILE, RELEASE_FILE)


def regenerate_command(config: Config, options: Options) -> str:
    return shlex.join(["ml-ci", "generate", "-c", config.path.name, *options.cli_args()])


def render(config: Config, options: Options) -> dict[str, str]:
    command = regenerate_command(config, options)
    files = {PR_FILE: pr_workflow(config, options), RELEASE_FILE: release_workflow(config, options)}
    return {path: header.with_header(yamlout.dump(wf.data()), source=config.path.name, regenerate=command)
            for path, wf in files.items()}
