"""The GitHub REST API through github3.py: one sticky PR comment and a commit status.

The token is read by the caller from the environment and handed to github3 only; it is never
printed, logged or put in an error message (`scrub` removes it from any text that leaves here).
github3 is imported inside the functions: it is needed only when something is posted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ml_ci.errors import OperationalError
from ml_ci.github.context import Target, enterprise_base

T = TypeVar("T")
STATUS_DESCRIPTION_MAX = 140  # GitHub refuses longer commit status descriptions
State = Literal["success", "failure", "error", "pending"]


@dataclass(frozen=True)
class Posted:
    action: Literal["created", "updated", "unchanged"]
    comment_id: int
    duplicates_removed: int = 0


def scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def connect(target: Target, token: str) -> Any:
    """An authenticated client: github.com, or a GitHub Enterprise instance (GITHUB_API_URL / --github-url)."""
    import github3

    base = enterprise_base(target.api_url)
    if base is None:
        return github3.login(token=token)
    return github3.enterprise_login(token=token, url=base)


def guarded(what: str, token: str, fn: Callable[[], T]) -> T:
    """Run one API call; turn github3 and connection errors into a clear message without the token."""
    import github3
    import requests

    try:
        return fn()
    except github3.exceptions.AuthenticationFailed:
        raise OperationalError(f"{what}: GitHub refused the token (401): check GITHUB_TOKEN") from None
    except github3.exceptions.ForbiddenError as e:
        raise OperationalError(
            scrub(
                f"{what}: the token may not do this (403: {e.msg}). The job needs "
                "`permissions: pull-requests: write, statuses: write`; pull requests from "
                "forks get a read-only token",
                token,
            )
        ) from None
    except github3.exceptions.NotFoundError:
        raise OperationalError(
            f"{what}: not found (404): check the repository and PR number, and that the token can see the repository"
        ) from None
    except github3.exceptions.GitHubError as e:
        raise OperationalError(scrub(f"{what}: GitHub answered {e.code}: {e.msg}", token)) from None
    except requests.exceptions.RequestException as e:
        raise OperationalError(scrub(f"{what}: cannot reach the GitHub API: {type(e).__name__}", token)) from None


def upsert_comment(gh: Any, target: Target, body: str, marker: str, token: str) -> Posted:
    """Create the comment once, then edit it in place, found by its first line (the hidden marker).

    Two runs racing may both create one; the next run keeps the oldest and deletes the others.
    """
    owner, name = target.owner_name
    assert target.pr is not None
    where = f"PR #{target.pr} in {target.repo}"
    issue = guarded(f"reading {where}", token, lambda: gh.issue(owner, name, target.pr))
    if issue is None:
        raise OperationalError(f"reading {where}: not found")
    ours = guarded(
        f"listing the comments of {where}", token, lambda: [c for c in issue.comments() if (c.body or "").startswith(marker)]
    )
    if not ours:
        created = guarded(f"commenting on {where}", token, lambda: issue.create_comment(body))
        return Posted("created", int(created.id))
    keep, extra = ours[0], ours[1:]
    for c in extra:
        guarded(f"deleting a duplicate report on {where}", token, c.delete)
    if keep.body == body:
        return Posted("unchanged", int(keep.id), len(extra))
    guarded(f"editing the report on {where}", token, lambda: keep.edit(body))
    return Posted("updated", int(keep.id), len(extra))


def post_status(gh: Any, target: Target, state: State, description: str, context: str, token: str) -> None:
    owner, name = target.owner_name
    assert target.sha is not None
    if len(description) > STATUS_DESCRIPTION_MAX:
        description = description[: STATUS_DESCRIPTION_MAX - 1] + "…"
    repo = guarded(f"reading {target.repo}", token, lambda: gh.repository(owner, name))
    guarded(
        f"setting the commit status of {target.sha[:12]}",
        token,
        lambda: repo.create_status(target.sha, state, target_url=target.run_url, description=description, context=context),
    )
