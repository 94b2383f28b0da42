"""Plain `git` through subprocess, with credentials kept out of argv and logs.

A token reaches git as an `http.extraHeader` set through GIT_CONFIG_COUNT/KEY/VALUE environment
variables: it never appears on a command line (visible in `ps`) or in a URL (stored in .git/config),
and every message that leaves this module has it redacted.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ml_ci.errors import DeployError, OperationalError


def auth_env(token: str | None) -> dict[str, str]:
    """Environment that makes git send the token as a header on HTTP(S) requests."""
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


class Git:
    """git in one working directory; failures raise with git's own message, secrets redacted."""

    def __init__(self, cwd: Path, *, token: str | None = None, auth_hint: str = ""):
        self.cwd = cwd
        self.auth_hint = auth_hint
        header = auth_env(token).get("GIT_CONFIG_VALUE_0", "")
        # Longest first, so that the header is redacted whole before its parts are.
        self._secrets = sorted((s for s in (header, header.rpartition(" ")[2], token) if s and len(s) > 8), key=len, reverse=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env = {
            **base,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "ml-ci",
            "GIT_AUTHOR_EMAIL": "ml-ci@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "ml-ci",
            "GIT_COMMITTER_EMAIL": "ml-ci@users.noreply.github.com",
            **auth_env(token),
        }

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except FileNotFoundError:
            raise OperationalError("git is not installed; install git to deploy with strategy gitops") from None
        except subprocess.TimeoutExpired:
            raise DeployError(f"git {args[0]} did not finish within {timeout:.0f} s (is the GitOps remote reachable?)") from None
        if check and proc.returncode != 0:
            message = self.redact(proc.stderr.strip() or proc.stdout.strip())
            if self.auth_hint and any(s in message for s in ("Authentication failed", "could not read Username", " 403")):
                message += f" ({self.auth_hint})"
            raise DeployError(f"git {args[0]} failed: {message}")
        return proc

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def add(self, paths: Sequence[str]) -> None:
        self.run("add", "--all", "--", *paths)
