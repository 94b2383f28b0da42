"""Talk to the GitHub Actions runner: step outputs, the job summary and workflow commands' escaping.

The environment is passed in as a Mapping so tests pass a dict instead of patching os.environ.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path


def set_output(name: str, value: str, env: Mapping[str, str] | None = None) -> None:
    """Append name=value to $GITHUB_OUTPUT; multi-line values use a random heredoc delimiter
    so that a value cannot close the block early and inject further outputs."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_OUTPUT")
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as f:
        if "\n" in value or "\r" in value:
            delimiter = f"ml_ci_{secrets.token_hex(16)}"
            f.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            f.write(f"{name}={value}\n")


def add_summary(markdown: str, env: Mapping[str, str] | None = None) -> None:
    """Append markdown to the job summary ($GITHUB_STEP_SUMMARY), when running in Actions."""
    env = os.environ if env is None else env
    target = env.get("GITHUB_STEP_SUMMARY")
    if target:
        with Path(target).open("a", encoding="utf-8") as f:
            f.write(markdown.rstrip("\n") + "\n\n")


def escape_data(text: str) -> str:
    """A workflow command's message (after `::`), escaped as the Actions toolkit's escapeData."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (file=, title=), escaped as the Actions toolkit's escapeProperty."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
