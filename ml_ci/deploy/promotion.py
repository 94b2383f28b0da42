"""When a promotion must be refused (pure): only a live, gated, smoke-tested, healthy release moves on."""

from __future__ import annotations

from typing import Optional

from ml_ci.records.release import PASSING_VERDICTS, Release


def refusal(source_env: str, release: Optional[Release], health_problem: Optional[str]) -> Optional[str]:
    """Why `release` (what runs in source_env) may not be promoted; None when it may."""
    if release is None:
        return f"nothing is deployed in {source_env} yet: deploy there first (`ml-ci deploy --env {source_env}`)"
    short = release.ref.short
    if release.status != "live":
        why = f": {release.reason}" if release.reason else ""
        return f"{source_env} is not live on {short} (status {release.status}{why})"
    if release.verdict not in PASSING_VERDICTS:
        return f"the quality gates of the model in {source_env} ({short}) did not pass (verdict {release.verdict})"
    if release.smoke not in ("passed", "skipped"):
        hint = " (give the environment a url so the smoke test can reach it)" if release.smoke == "not-run" else ""
        return f"the smoke test of {short} in {source_env} did not pass (smoke test {release.smoke}){hint}"
    if health_problem:
        return f"{source_env} is unhealthy: {health_problem}"
    return None
