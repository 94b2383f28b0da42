"""Every reason a promotion is refused, word for word."""

from __future__ import annotations

from typing import Any

import pytest

from ml_ci.deploy.promotion import refusal
from ml_ci.records.release import Release
from tests.unit.deploy.helpers import IMAGE_A


def release(**changes: Any) -> Release:
    base = Release(
        environment="staging",
        image=IMAGE_A,
        verdict="pass",
        smoke="passed",
        status="live",
        deployed_at="2026-01-01T00:00:00+00:00",
        source="deploy",
    )
    return base.with_(**changes)


def test_a_good_release_may_be_promoted() -> None:
    assert refusal("staging", release(), None) is None
    assert refusal("staging", release(smoke="skipped"), None) is None


@pytest.mark.parametrize(
    ("rel", "health", "message"),
    [
        (None, None, "nothing is deployed in staging yet: deploy there first (`ml-ci deploy --env staging`)"),
        (
            release(status="reverted", reason="smoke test failed: x"),
            None,
            "staging is not live on aaaaaaaaaaaa (status reverted: smoke test failed: x)",
        ),
        (release(status="pending"), None, "staging is not live on aaaaaaaaaaaa (status pending)"),
        (release(verdict="fail"), None, "the quality gates of the model in staging (aaaaaaaaaaaa) did not pass (verdict fail)"),
        (release(smoke="failed"), None, "the smoke test of aaaaaaaaaaaa in staging did not pass (smoke test failed)"),
        (
            release(smoke="not-run"),
            None,
            "the smoke test of aaaaaaaaaaaa in staging did not pass (smoke test not-run) "
            "(give the environment a url so the smoke test can reach it)",
        ),
        (release(), "container ml-ci-tiny-staging is exited", "staging is unhealthy: container ml-ci-tiny-staging is exited"),
    ],
)
def test_refusals(rel: Release | None, health: str | None, message: str) -> None:
    assert refusal("staging", rel, health) == message


def test_release_round_trips_through_json() -> None:
    r = release(previous=IMAGE_A, reason="why")
    assert Release.from_json(r.to_json(), "x") == r
