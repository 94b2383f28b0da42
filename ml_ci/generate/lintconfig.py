""".github/actionlint.yaml: the runner labels of ml.yaml that actionlint cannot know.

actionlint checks every `runs-on` label against GitHub's hosted images and the labels a self-hosted
runner gets by default; any other label (`gpu`, `a100`, a larger runner's name) is "unknown" unless
the repository's actionlint configuration declares it. ml.yaml names those labels (ci.runner,
ci.gpu_runner), so ml-ci generate declares them, and the generated tree is lint-clean as it stands.
Only written when there is such a label: a repository on GitHub's runners gets no extra file.
"""

from __future__ import annotations

import re

from ml_ci.config.model import Config
from ml_ci.generate import yamlout

ACTIONLINT_FILE = ".github/actionlint.yaml"
# What a self-hosted runner is labelled by default (GitHub's docs, and actionlint's presets).
SELF_HOSTED_DEFAULTS = frozenset({"self-hosted", "linux", "macos", "windows", "x64", "arm", "arm64"})
# GitHub-hosted images (ubuntu-latest, ubuntu-24.04-arm, macos-14-large, windows-2022, xcode-27,
# ubuntu-slim): actionlint knows them, and declaring one as a self-hosted label would hide a typo in its name.
GITHUB_HOSTED = re.compile(r"^((ubuntu|windows|macos)-(latest|[0-9]+(\.[0-9]+)?)|xcode-[0-9]+)(-[a-z0-9]+)*$|^ubuntu-slim$")


def custom_labels(config: Config) -> list[str]:
    """The runner labels of ml.yaml that are neither a GitHub-hosted image nor a default label."""
    labels = {*config.ci.runner, *(config.ci.gpu_runner or ())}
    return sorted(
        label for label in labels if label.lower() not in SELF_HOSTED_DEFAULTS and not GITHUB_HOSTED.match(label.lower())
    )


def actionlint_config(config: Config) -> str | None:
    """The body of .github/actionlint.yaml, or None when ml.yaml names no custom label."""
    labels = custom_labels(config)
    if not labels:
        return None
    return yamlout.dump({"self-hosted-runner": {"labels": list(labels)}})
