from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.github.api import scrub
from ml_ci.github.context import Target, enterprise_base, resolve


def test_a_pull_request_event_gives_the_pr_and_its_head_commit(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12, "head": {"sha": "h" * 40}}}))
    env = {
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "m" * 40,
        "GITHUB_RUN_ID": "99",
        "GITHUB_SERVER_URL": "https://ghe.acme.io",
        "GITHUB_API_URL": "https://ghe.acme.io/api/v3",
    }
    t = resolve(env)
    assert t == Target(
        "acme/models", 12, "h" * 40, "https://ghe.acme.io/api/v3", "https://ghe.acme.io/acme/models/actions/runs/99"
    )
    # the command line wins
    assert resolve(env, pr=3, sha="s", repo="o/n").owner_name == ("o", "n")
    assert resolve(env, pr=3, sha="s").pr == 3


def test_outside_actions_nothing_is_guessed() -> None:
    t = resolve({})
    assert (t.repo, t.pr, t.sha, t.api_url, t.run_url) == (None, None, None, "https://api.github.com", None)


def test_enterprise_base_strips_the_api_suffix_that_github3_adds_back() -> None:
    assert enterprise_base("https://api.github.com/") is None
    assert enterprise_base("https://ghe.acme.io/api/v3") == "https://ghe.acme.io"
    assert enterprise_base("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.parametrize("repo", ["acme", "a/b/c", "/b", None])
def test_a_malformed_repository_is_refused(repo: str | None) -> None:
    with pytest.raises(OperationalError, match="--repo must be OWNER/NAME"):
        _ = Target(repo, 1, None, "", None).owner_name


def test_scrub_hides_the_token() -> None:
    assert scrub("failed for ghs_secret123 at url", "ghs_secret123") == "failed for *** at url"
    assert scrub("nothing", "") == "nothing"
