"""Reading other stages' records, and the GitHub Deployment a promotion records (github3 faked)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_ci.deploy import github
from ml_ci.deploy.inputs import build_inputs
from ml_ci.errors import DeployError, OperationalError
from ml_ci.records.image import reference as image_from_record
from tests.unit.deploy.helpers import DIGEST_A, IMAGE_A, config, write_artifacts


def test_image_record_from_ml_ci_build() -> None:
    record = {"repository": "127.0.0.1:5000/acme/tiny", "digest": DIGEST_A, "pushed": True, "reference": IMAGE_A}
    assert str(image_from_record(record, "image.json")) == IMAGE_A
    assert str(image_from_record({"repository": "127.0.0.1:5000/acme/tiny", "digest": DIGEST_A}, "x")) == IMAGE_A
    with pytest.raises(DeployError, match=r"the image was built but not pushed; deploys need it in the registry"):
        image_from_record({"pushed": False, "reference": "127.0.0.1:5000/acme/tiny:abc", "digest": None}, "image.json")


def test_missing_inputs_name_the_file_and_the_fix(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with pytest.raises(OperationalError, match=r"image.json: the image record is missing; run `ml-ci build --push`"):
        build_inputs(cfg, None)
    with pytest.raises(OperationalError, match=r"eval.json: the evaluation record is missing; run `ml-ci evaluate` first"):
        build_inputs(cfg, IMAGE_A)
    write_artifacts(tmp_path)
    assert str(build_inputs(cfg, None).image) == IMAGE_A


def test_the_model_digest_comes_from_model_json_when_there_is_one(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    write_artifacts(tmp_path)
    assert build_inputs(cfg, None).model_sha256 is None
    model_json = tmp_path / ".ml-ci/artifacts/export/model.json"
    model_json.write_text('{"sha256": "' + "ab" * 32 + '"}', encoding="utf-8")
    assert build_inputs(cfg, None).model_sha256 == "ab" * 32
    model_json.write_text("{", encoding="utf-8")
    with pytest.raises(OperationalError, match=r"model.json:1:2: the model manifest is not valid JSON"):
        build_inputs(cfg, None)


class FakeDeployment:
    url = "https://api.github.com/repos/acme/tiny/deployments/7"

    def __init__(self) -> None:
        self.statuses: list[tuple[Any, ...]] = []

    def create_status(self, state: str, target_url: str | None = None, description: str | None = None) -> object:
        self.statuses.append((state, target_url, description))
        return object()


class FakeRepo:
    def __init__(self) -> None:
        self.deployment = FakeDeployment()
        self.calls: list[dict[str, Any]] = []

    def create_deployment(self, **kw: Any) -> FakeDeployment:
        self.calls.append(kw)
        return self.deployment


class FakeGitHub:
    def __init__(self, repo: FakeRepo):
        self.repo = repo

    def repository(self, owner: str, name: str) -> FakeRepo | None:
        return self.repo if (owner, name) == ("acme", "tiny") else None


def test_promotion_records_a_github_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    import github3

    repo = FakeRepo()
    logins: list[dict[str, Any]] = []

    def login(**kw: Any) -> FakeGitHub:
        logins.append(kw)
        return FakeGitHub(repo)

    monkeypatch.setattr(github3, "login", login)
    env = {"GITHUB_TOKEN": "t0ken", "GITHUB_REPOSITORY": "acme/tiny"}
    deployment = github.start_deployment(env, environment="production", ref="abc123", image=IMAGE_A, description="promote")
    github.finish_deployment(deployment, "success", "promoted", "http://127.0.0.1:18082")
    assert deployment is repo.deployment
    assert logins == [{"token": "t0ken"}]
    assert repo.calls == [
        {
            "ref": "abc123",
            "environment": "production",
            "auto_merge": False,
            "required_contexts": [],
            "payload": f'{{"image": "{IMAGE_A}"}}',
            "description": "promote",
        }
    ]
    assert repo.deployment.statuses == [("in_progress", None, "promote"), ("success", "http://127.0.0.1:18082", "promoted")]


def test_no_token_no_record_and_enterprise_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    import github3

    assert github.start_deployment({}, environment="p", ref="r", image=IMAGE_A, description="d") is None
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(github3, "enterprise_login", lambda **kw: seen.append(kw) or FakeGitHub(FakeRepo()))
    github.login({"GITHUB_TOKEN": "t", "GITHUB_API_URL": "https://ghe.example.com/api/v3"})
    assert seen == [{"url": "https://ghe.example.com", "token": "t"}]


class FakePull:
    def __init__(self, url: str):
        self.html_url = url


class FakePullRepo:
    def __init__(self, open_prs: list[FakePull]):
        self.open_prs = open_prs
        self.created: list[dict[str, Any]] = []
        self.queries: list[dict[str, Any]] = []

    def pull_requests(self, **kw: Any) -> list[FakePull]:
        self.queries.append(kw)
        return self.open_prs

    def create_pull(self, **kw: Any) -> FakePull:
        self.created.append(kw)
        return FakePull("https://github.com/acme/deploy/pull/2")


def test_review_pull_request_is_opened_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import github3

    repo = FakePullRepo([])
    monkeypatch.setattr(github3, "login", lambda **kw: type("G", (), {"repository": lambda self, o, n: repo})())
    env = {"GITOPS_TOKEN": "t"}
    url = github.open_pull_request(
        env, "GITOPS_TOKEN", "acme/deploy", base="main", head="ml-ci/production/abc", title="Deploy", body="b"
    )
    assert url == "https://github.com/acme/deploy/pull/2"
    assert repo.created == [{"title": "Deploy", "base": "main", "head": "ml-ci/production/abc", "body": "b"}]
    repo.open_prs = [FakePull("https://github.com/acme/deploy/pull/1")]
    assert (
        github.open_pull_request(
            env, "GITOPS_TOKEN", "acme/deploy", base="main", head="ml-ci/production/abc", title="Deploy", body="b"
        )
        == "https://github.com/acme/deploy/pull/1"
    )
    assert repo.queries[-1] == {"state": "open", "head": "acme:ml-ci/production/abc", "base": "main"}
    assert len(repo.created) == 1
    with pytest.raises(
        DeployError,
        match=r"this environment needs approval, which opens a pull request on acme/deploy: "
        r"set GITOPS_TOKEN",
    ):
        github.open_pull_request({}, "GITOPS_TOKEN", "acme/deploy", base="main", head="h", title="t", body="b")


def test_a_config_without_deploy_is_a_config_error(tmp_path: Path) -> None:
    from ml_ci.config import load_config
    from ml_ci.deploy.deployer import Deployer
    from ml_ci.errors import ConfigError
    from tests.modelrepo import make_model_repo

    cfg = load_config(make_model_repo(tmp_path, n_train=30, n_val=10, n_test=10)).config
    with pytest.raises(ConfigError, match=r"deploy: ml.yaml has no deploy section; add deploy.environments"):
        Deployer(cfg, {})
