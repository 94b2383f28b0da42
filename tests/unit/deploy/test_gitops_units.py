"""Pure parts of the GitOps publisher: remotes, credentials, push outcomes, the file tree."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ml_ci.config import Config
from ml_ci.config.gitops_remote import resolve_remote
from ml_ci.deploy import tree
from ml_ci.deploy.git import Git, auth_env
from ml_ci.deploy.gitops import push_rejection
from ml_ci.records.imageref import parse
from ml_ci.records.release import Deployed, Release
from tests.unit.deploy.helpers import IMAGE_A, config, eval_record, golden_record


def test_remotes(tmp_path: Path) -> None:
    assert resolve_remote("acme/deploy", tmp_path, {}).url == "https://github.com/acme/deploy.git"
    assert (
        resolve_remote("acme/deploy", tmp_path, {"GITHUB_SERVER_URL": "https://ghe.example.com"}).url
        == "https://ghe.example.com/acme/deploy.git"
    )
    assert resolve_remote("acme/deploy", tmp_path, {}).slug == "acme/deploy"
    assert resolve_remote("https://git.example.com/x.git", tmp_path, {}).kind == "url"
    assert resolve_remote("git@github.com:acme/deploy.git", tmp_path, {}).kind == "url"
    local = resolve_remote(".ml-ci/gitops.git", tmp_path, {})
    assert (local.kind, local.url) == ("path", str(tmp_path / ".ml-ci/gitops.git"))
    (tmp_path / "acme" / "deploy").mkdir(parents=True)
    assert resolve_remote("acme/deploy", tmp_path, {}).kind == "path"  # an existing folder wins


def test_token_travels_as_a_header_in_the_environment_only(tmp_path: Path) -> None:
    env = auth_env("ghp_secret123456")
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert base64.b64decode(env["GIT_CONFIG_VALUE_0"].split()[-1]).decode() == "x-access-token:ghp_secret123456"
    git = Git(tmp_path, token="ghp_secret123456")
    assert (
        git.redact("fatal: https://x-access-token:ghp_secret123456@github.com denied")
        == "fatal: https://x-access-token:***@github.com denied"
    )
    assert auth_env(None) == {}


def test_push_outcomes() -> None:
    assert push_rejection("To /r.git\n=\tHEAD:refs/heads/main\t[up to date]\nDone") == ""
    assert push_rejection("To /r.git\n!\tHEAD:refs/heads/main\t[rejected] (fetch first)\nDone") == "race"
    assert push_rejection("To /r.git\n!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)\nDone") == "race"
    assert push_rejection("To /r.git\n!\tHEAD:refs/heads/main\t[remote rejected] (failed to update ref)\nDone") == "race"
    assert push_rejection("To /r.git\n!\tHEAD:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone") == "refused"


def test_tree_has_a_base_and_an_overlay_pinned_by_digest(tmp_path: Path) -> None:
    import yaml

    cfg: Config = config(tmp_path)
    assert cfg.deploy is not None
    env = cfg.deploy.environment("production")
    rel = Release(
        environment="production",
        image=IMAGE_A,
        verdict="pass",
        smoke="pending",
        status="pending",
        deployed_at="t",
        source="deploy",
    )
    files = tree.environment_tree(
        cfg, env, parse(IMAGE_A), Deployed(release=rel, eval_record=eval_record(), golden=golden_record())
    )
    assert set(files) == {"apps/tiny/base", "apps/tiny/overlays/production"}
    assert set(files["apps/tiny/base"]) == {"kustomization.yaml", "deployment.yaml", "service.yaml", "servicemonitor.yaml"}
    overlay = files["apps/tiny/overlays/production"]
    assert set(overlay) == {
        "kustomization.yaml",
        "deployment-patch.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "prometheusrule.yaml",
        "eval.json",
        "golden.json",
        "release.json",
    }
    kustomization = yaml.safe_load(overlay["kustomization.yaml"])
    assert kustomization["images"] == [{"name": "tiny", "newName": "127.0.0.1:5000/acme/tiny", "digest": "sha256:" + "a" * 64}]
    assert kustomization["namespace"] == "ml-production"
    assert Release.from_json(overlay["release.json"], "x") == rel


def test_a_missing_repository_is_refused_naming_the_value_and_what_was_expected(tmp_path: Path) -> None:
    from ml_ci.config.gitops_remote import missing_repository

    tail = "; to create a scratch bare repository there on the first deploy, set deploy.gitops.create: true"
    assert missing_repository("acme/deploy.git", tmp_path, False) == (
        f"'acme/deploy.git' is not a URL or owner/name, and no repository exists at {tmp_path}/acme/deploy.git: expected "
        "owner/name on GitHub, a git URL (https://, ssh://, git@host:path) or an existing repository on disk; did you "
        "mean 'acme/deploy' (owner/name on GitHub) or 'https://github.com/acme/deploy.git'?" + tail
    )
    assert "did you mean 'https://github.com/acme/deploy.git' or 'acme/deploy' (owner/name on GitHub)?" in str(
        missing_repository("github.com/acme/deploy", tmp_path, False)
    )
    assert "did you mean 'https://git.example.com/ops/deploy.git'?" in str(
        missing_repository("git.example.com/ops/deploy.git", tmp_path, False)
    )
    assert str(missing_repository(".ml-ci/gitops.git", tmp_path, False)).endswith("existing repository on disk" + tail)
    # Fine: asked to create it, a URL, owner/name, or a folder that exists.
    assert missing_repository(".ml-ci/gitops.git", tmp_path, True) is None
    assert missing_repository("https://github.com/acme/deploy.git", tmp_path, False) is None
    assert missing_repository("acme/deploy", tmp_path, False) is None
    (tmp_path / "ops.git").mkdir()
    assert missing_repository("ops.git", tmp_path, False) is None


def test_validate_says_a_mistyped_repository_is_an_error(tmp_path: Path) -> None:
    from ml_ci.config import check_file
    from ml_ci.errors import ConfigError
    from tests.modelrepo import make_model_repo

    path = make_model_repo(
        tmp_path,
        name="tiny",
        overrides={
            "image": {"registry": "127.0.0.1:5000", "repository": "acme/tiny", "base": "ml-ci-base:bookworm"},
            "deploy": {
                "strategy": "gitops",
                "gitops": {"repo": "github.com/acme/deploy", "path": "apps/tiny"},
                "environments": [{"name": "staging"}],
            },
        },
    )
    with pytest.raises(ConfigError) as e:
        check_file(path)
    problems = [p for p in e.value.problems if p.path == "deploy.gitops.repo"]
    assert [(p.severity, p.message.split(":")[0]) for p in problems] == [
        (
            "error",
            f"'github.com/acme/deploy' is not a URL or owner/name, and no repository exists at {tmp_path}/github.com/acme/deploy",
        )
    ]
    assert problems[0].line > 0
    assert not (tmp_path / "github.com").exists()
