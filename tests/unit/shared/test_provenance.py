"""Where the source comes from, read from the Actions environment (ml_ci.provenance: export and build share it)."""

from __future__ import annotations

from ml_ci.provenance import GitInfo, from_env


def test_actions_environment() -> None:
    env = {
        "GITHUB_SHA": "c" * 40,
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_NAME": "v1.0.0",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/m",
    }
    assert from_env(env) == GitInfo(sha="c" * 40, tag="v1.0.0", source="https://github.com/acme/m")


def test_a_branch_build_has_no_tag() -> None:
    assert from_env({"GITHUB_SHA": "c" * 40, "GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "main"}) == GitInfo(sha="c" * 40)


def test_outside_actions() -> None:
    assert from_env({}) is None
