"""`ml-ci report` against a stand-in for the GitHub REST API on 127.0.0.1: NOT GitHub.

The stand-in (below) answers the few endpoints the report uses (an issue, its comments, editing
and deleting a comment, a repository, creating a commit status) under /api/v3 as a GitHub
Enterprise server does, with bodies shaped like GitHub's documented responses (the fields
github3.py reads), token authentication and Link-header pagination. It records every request, so
the tests assert exactly what was sent: one comment created, then edited, never duplicated; a
commit status posted; the token never in any output or log. Pages hold at most 2 items (GitHub
allows 100) so that a handful of comments already exercises pagination.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from ml_ci.config import Config, load_config
from ml_ci.errors import OperationalError
from ml_ci.evaluate.assemble import Measured, Predictions, assemble
from ml_ci.pipeline.layout import Layout
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import text_hash
from ml_ci.report.pr import Options, run
from tests.modelrepo import make_model_repo

pytestmark = pytest.mark.integration
TOKEN = "ghs_standinSECRETtoken0123456789"
SHA = "0123456789abcdef0123456789abcdef01234567"

STAMP = "2026-01-01T00:00:00Z"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class State:
    token: str
    owner: str = "acme"
    repo: str = "models"
    pr: int = 7
    max_per_page: int = 2
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    forbid: set[str] = field(default_factory=set)  # "METHOD path-regex" answered with 403
    next_id: int = 1000
    base: str = ""


def user(login: str, base: str) -> dict[str, Any]:
    api = f"{base}/api/v3/users/{login}"
    return {
        "login": login,
        "id": abs(hash(login)) % 10**6,
        "node_id": "U_1",
        "avatar_url": f"{base}/avatars/{login}",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{base}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": "User" if login != "github-actions[bot]" else "Bot",
        "site_admin": False,
    }


def repository(s: State) -> dict[str, Any]:
    api = f"{s.base}/api/v3/repos/{s.owner}/{s.repo}"
    html = f"{s.base}/{s.owner}/{s.repo}"
    urls = {
        f"{k}_url": f"{api}/{k}"
        for k in (
            "archive",
            "assignees",
            "blobs",
            "branches",
            "collaborators",
            "comments",
            "commits",
            "compare",
            "contents",
            "contributors",
            "deployments",
            "downloads",
            "events",
            "forks",
            "git_commits",
            "git_refs",
            "git_tags",
            "hooks",
            "issue_comment",
            "issue_events",
            "issues",
            "keys",
            "labels",
            "languages",
            "merges",
            "milestones",
            "notifications",
            "pulls",
            "releases",
            "stargazers",
            "statuses",
            "subscribers",
            "subscription",
            "tags",
            "teams",
            "trees",
        )
    }
    return {
        **urls,
        "id": 1296269,
        "node_id": "R_1",
        "name": s.repo,
        "full_name": f"{s.owner}/{s.repo}",
        "owner": user(s.owner, s.base),
        "private": True,
        "html_url": html,
        "description": "models",
        "fork": False,
        "url": api,
        "clone_url": f"{html}.git",
        "git_url": f"git://{html}.git",
        "ssh_url": f"git@host:{s.owner}/{s.repo}.git",
        "svn_url": html,
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 10,
        "default_branch": "main",
        "open_issues_count": 1,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "archived": False,
        "pushed_at": STAMP,
        "created_at": STAMP,
        "updated_at": STAMP,
        "subscribers_count": 1,
        "network_count": 0,
        "allow_rebase_merge": True,
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "license": None,
    }


def issue(s: State) -> dict[str, Any]:
    api = f"{s.base}/api/v3/repos/{s.owner}/{s.repo}/issues/{s.pr}"
    return {
        "id": 1,
        "node_id": "I_1",
        "url": api,
        "repository_url": f"{s.base}/api/v3/repos/{s.owner}/{s.repo}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{s.base}/{s.owner}/{s.repo}/pull/{s.pr}",
        "number": s.pr,
        "state": "open",
        "title": "Better model",
        "body": "",
        "body_html": "",
        "body_text": "",
        "user": user("dev", s.base),
        "labels": [],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "comments": len(s.comments),
        "closed_at": None,
        "closed_by": None,
        "created_at": STAMP,
        "updated_at": STAMP,
        "author_association": "MEMBER",
        "pull_request": {
            "url": f"{s.base}/api/v3/repos/{s.owner}/{s.repo}/pulls/{s.pr}",
            "html_url": f"{s.base}/{s.owner}/{s.repo}/pull/{s.pr}",
            "diff_url": f"{s.base}/{s.owner}/{s.repo}/pull/{s.pr}.diff",
            "patch_url": f"{s.base}/{s.owner}/{s.repo}/pull/{s.pr}.patch",
        },
    }


def comment(s: State, cid: int, body: str, login: str = "github-actions[bot]") -> dict[str, Any]:
    return {
        "id": cid,
        "node_id": f"IC_{cid}",
        "url": f"{s.base}/api/v3/repos/{s.owner}/{s.repo}/issues/comments/{cid}",
        "html_url": f"{s.base}/{s.owner}/{s.repo}/pull/{s.pr}#issuecomment-{cid}",
        "body": body,
        "body_html": f"<p>{body[:20]}</p>",
        "body_text": body,
        "user": user(login, s.base),
        "created_at": STAMP,
        "updated_at": STAMP,
        "issue_url": f"{s.base}/api/v3/repos/{s.owner}/{s.repo}/issues/{s.pr}",
        "author_association": "NONE",
    }


def status(s: State, sha: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": len(s.statuses) + 1,
        "node_id": "SC_1",
        "url": f"{s.base}/api/v3/repos/{s.owner}/{s.repo}/statuses/{sha}",
        "state": data["state"],
        "description": data.get("description"),
        "target_url": data.get("target_url"),
        "context": data.get("context", "default"),
        "avatar_url": None,
        "created_at": STAMP,
        "updated_at": STAMP,
        "creator": user("github-actions[bot]", s.base),
    }


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, code: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if data is None else json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self) -> None:
        s = self.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body: Any = json.loads(self.rfile.read(length)) if length else {}
        s.requests.append(Request(self.command, parts.path, parse_qs(parts.query), body, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != f"token {s.token}":
            return self._send(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
        if any(re.fullmatch(rule, f"{self.command} {parts.path}") for rule in s.forbid):
            return self._send(403, {"message": "Resource not accessible by integration"})
        repo = f"/api/v3/repos/{s.owner}/{s.repo}"
        issue_path = f"{repo}/issues/{s.pr}"
        m = re.fullmatch(rf"{repo}/issues/comments/(\d+)", parts.path)
        if self.command == "GET" and parts.path == repo:
            return self._send(200, repository(s))
        if self.command == "GET" and parts.path == issue_path:
            return self._send(200, issue(s))
        if self.command == "GET" and parts.path == f"{issue_path}/comments":
            return self._list_comments(parts.path, parse_qs(parts.query))
        if self.command == "POST" and parts.path == f"{issue_path}/comments":
            s.next_id += 1
            s.comments[s.next_id] = comment(s, s.next_id, body["body"])
            return self._send(201, s.comments[s.next_id])
        if m and int(m.group(1)) in s.comments:
            cid = int(m.group(1))
            if self.command == "PATCH":
                s.comments[cid] = {**s.comments[cid], "body": body["body"], "body_text": body["body"]}
                return self._send(200, s.comments[cid])
            if self.command == "DELETE":
                del s.comments[cid]
                return self._send(204)
        sm = re.fullmatch(rf"{repo}/statuses/([0-9a-f]{{4,40}})", parts.path)
        if self.command == "POST" and sm:
            s.statuses.append({"sha": sm.group(1), **body})
            return self._send(201, status(s, sm.group(1), body))
        return self._send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    def _list_comments(self, path: str, query: dict[str, list[str]]) -> None:
        s = self.state
        per_page = min(int(query.get("per_page", ["30"])[0]), s.max_per_page)
        page = int(query.get("page", ["1"])[0])
        items = [s.comments[k] for k in sorted(s.comments)]
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = f'<{s.base}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
        self._send(200, chunk, headers)

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


class StandIn:
    """Start with `with StandIn(token) as api:`; api.url is the Enterprise base URL to give github3."""

    def __init__(self, token: str) -> None:
        self.state = State(token=token)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.state.base = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.state.requests]


def write_eval(config: Config, wrong: int) -> None:
    """An evaluation record of 40 examples with `wrong` mistakes (made without a model: the report reads the record)."""
    n = 40
    y = np.array([i % 2 for i in range(n)], dtype=np.int64)
    pred = np.concatenate([1 - y[:wrong], y[wrong:]])
    probs = np.full((n, 2), 0.2)
    probs[np.arange(n), pred] = 0.8
    preds = Predictions(tuple(text_hash(str(i)) for i in range(n)), y, probs)
    out = assemble(
        config,
        role="test",
        fingerprint=None,
        texts_lengths=[20] * n,
        columns={},
        preds=preds,
        measured=Measured([3.0], 1.0, "sha256:x", "model"),
        baselines={},
        created="2026-01-01T00:00:00+00:00",
        git={"sha": SHA},
    )
    eval_record.write(Layout(config.root).eval_record, out.record)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(make_model_repo(tmp_path / "repo", n_train=20, n_val=10, n_test=10)).config


@pytest.fixture
def api() -> Any:
    with StandIn(TOKEN) as server:
        yield server


def report(config: Config, api: StandIn) -> Any:
    return run(config, Options(pr=7, repo="acme/models", sha=SHA, github_url=api.url), env={"GITHUB_TOKEN": TOKEN})


def test_one_comment_created_then_edited_never_duplicated(config: Config, api: StandIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # github3, requests and urllib3 log at DEBUG: the token must not be there
    state = api.state
    for i, text in enumerate(["LGTM", "please check the slices", "ok"]):  # humans' comments around ours
        state.comments[i + 1] = comment(state, i + 1, text, login="dev")
    write_eval(config, wrong=2)
    first = report(config, api)
    assert first.comment is not None and first.comment.action == "created"
    assert api.calls() == [
        ("GET", "/api/v3/repos/acme/models/issues/7"),
        ("GET", "/api/v3/repos/acme/models/issues/7/comments"),
        ("GET", "/api/v3/repos/acme/models/issues/7/comments"),
        ("POST", "/api/v3/repos/acme/models/issues/7/comments"),
        ("GET", "/api/v3/repos/acme/models"),
        ("POST", f"/api/v3/repos/acme/models/statuses/{SHA}"),
    ]
    assert all(r.authorization == f"token {TOKEN}" for r in state.requests)
    ours = [c for c in state.comments.values() if c["body"].startswith("<!-- ml-ci-report:tiny-sentiment -->")]
    assert len(ours) == 1 and "0.9500" in ours[0]["body"]
    assert state.statuses == [
        {"sha": SHA, "state": "success", "context": "ml-ci/tiny-sentiment", "description": "all 1 quality gates passed"}
    ]

    state.requests.clear()
    write_eval(config, wrong=12)  # a new result: the same comment is edited
    second = report(config, api)
    assert second.comment is not None and second.comment.action == "updated"
    assert second.comment.comment_id == first.comment.comment_id
    assert [c for c in api.calls() if c[0] in ("POST", "PATCH", "DELETE")] == [
        ("PATCH", f"/api/v3/repos/acme/models/issues/comments/{first.comment.comment_id}"),
        ("POST", f"/api/v3/repos/acme/models/statuses/{SHA}"),
    ]
    assert state.requests[-1].body == {
        "state": "failure",
        "context": "ml-ci/tiny-sentiment",
        "description": "1 of 1 gates failed: accuracy >= 0.8",
    }
    bodies = [c["body"] for c in state.comments.values()]
    assert len(bodies) == 4 and sum(b.startswith("<!-- ml-ci-report:") for b in bodies) == 1
    assert "0.7000" in state.comments[first.comment.comment_id]["body"]

    state.requests.clear()
    third = report(config, api)  # nothing changed: no edit at all
    assert third.comment is not None and third.comment.action == "unchanged"
    assert ("PATCH", f"/api/v3/repos/acme/models/issues/comments/{first.comment.comment_id}") not in api.calls()
    assert TOKEN not in caplog.text
    assert any("127.0.0.1" in r.getMessage() for r in caplog.records)  # the capture did see the HTTP traffic


def test_duplicates_from_a_race_are_folded_into_one(config: Config, api: StandIn) -> None:
    state = api.state
    marker = "<!-- ml-ci-report:tiny-sentiment -->"
    state.comments[1] = comment(state, 1, marker + "\nold A")
    state.comments[2] = comment(state, 2, "human", login="dev")
    state.comments[3] = comment(state, 3, marker + "\nold B")
    write_eval(config, wrong=0)
    result = report(config, api)
    assert result.comment is not None
    assert (result.comment.action, result.comment.comment_id, result.comment.duplicates_removed) == ("updated", 1, 1)
    assert sorted(state.comments) == [1, 2]
    assert state.statuses[0]["state"] == "success"


def test_a_read_only_token_fails_clearly_without_leaking_it(config: Config, api: StandIn, tmp_path: Path) -> None:
    api.state.forbid.add(r"POST /api/v3/repos/acme/models/issues/\d+/comments")
    write_eval(config, wrong=0)
    with pytest.raises(OperationalError) as e:
        report(config, api)
    assert str(e.value) == (
        "commenting on PR #7 in acme/models: the token may not do this (403: Resource not accessible "
        "by integration). The job needs `permissions: pull-requests: write, statuses: write`; pull "
        "requests from forks get a read-only token"
    )
    # the same through the CLI, with the API URL as Actions sets it on GitHub Enterprise (.../api/v3):
    # exit 1, one clear line, no traceback, no token
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": f"{api.url}/api/v3"}
    env.pop("ML_CI_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "ml_ci", "report", "-c", str(config.path), "--pr", "7", "--repo", "acme/models", "--sha", SHA],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "error: commenting on PR #7 in acme/models: the token may not do this (403" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert api.calls()[-1] == ("POST", "/api/v3/repos/acme/models/issues/7/comments")  # it did reach the stand-in


def test_a_wrong_token_a_missing_token_and_a_missing_record(config: Config, api: StandIn) -> None:
    with pytest.raises(OperationalError, match=r"no evaluation record at .*eval\.json: run `ml-ci evaluate` first"):
        run(config, Options(), env={})
    write_eval(config, wrong=0)
    with pytest.raises(OperationalError, match=r"GitHub refused the token \(401\): check GITHUB_TOKEN"):
        run(config, Options(pr=7, repo="acme/models", github_url=api.url), env={"GITHUB_TOKEN": "ghs_wrong"})
    with pytest.raises(OperationalError, match="GITHUB_TOKEN is not set"):
        run(config, Options(pr=7, repo="acme/models", github_url=api.url), env={})
    # Only the runner's variables (as under `act` without secrets): written, not posted, not an error.
    quiet = run(config, Options(github_url=api.url), env={"GITHUB_REPOSITORY": "acme/models", "GITHUB_SHA": SHA})
    assert quiet.skipped == "GITHUB_TOKEN is not set: the report was not posted"
    local = run(config, Options(), env={})  # no PR, no repository: only the markdown
    assert local.comment is None and local.status is None
    assert local.path.read_text().startswith("<!-- ml-ci-report:tiny-sentiment -->")
    assert sorted(p.name for p in local.path.parent.iterdir()) == ["confusion.png", "history.png", "report.md"]
