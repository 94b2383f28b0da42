"""GitOps deploys against a real bare git repository on disk (a real remote: git's own protocol)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config import Config
from ml_ci.deploy.deployer import Deployer, Inputs
from ml_ci.deploy.imageref import parse
from ml_ci.deploy.records import Release
from ml_ci.errors import DeployError
from tests.unit.deploy.helpers import IMAGE_A, IMAGE_B, ModelServer, config, eval_record, golden_record

pytestmark = pytest.mark.integration

NO_SMOKE = {"smoke_test": {"enabled": False}}


def gitops_config(root: Path, *, envs: list[dict[str, Any]] | None = None) -> Config:
    envs = envs or [{"name": n, **NO_SMOKE} for n in ("staging", "production", "qa", "preprod")]
    return config(root, deploy={"strategy": "gitops", "gitops": {"repo": "gitops.git", "path": "apps/tiny"},
                                "environments": envs})


def inputs(image: str = IMAGE_A, **kw: Any) -> Inputs:
    return Inputs(image=parse(image), eval_record=eval_record(), golden=golden_record(), **kw)


def deployer(cfg: Config) -> Deployer:
    # The digests here are made up: the registry check has its own test (test_deploy_local.py).
    return Deployer(cfg, {}, check_registry=False, log=lambda _: None)


def git(bare: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(bare), *args], capture_output=True, text=True, check=True).stdout.strip()


def subjects(bare: Path) -> list[str]:
    return git(bare, "log", "--format=%s", "main").splitlines()


def live(bare: Path, env: str) -> Release:
    return Release.from_json(git(bare, "show", f"main:apps/tiny/overlays/{env}/release.json"), env)


def test_first_deploy_creates_the_repository_and_commits_the_overlay(tmp_path: Path) -> None:
    cfg = gitops_config(tmp_path)
    result = deployer(cfg).deploy("staging", inputs())
    bare = tmp_path / "gitops.git"
    assert result.changed and result.commit == git(bare, "rev-parse", "main")
    assert subjects(bare) == ["staging: tiny aaaaaaaaaaaa (deploy)"]
    files = set(git(bare, "ls-tree", "-r", "--name-only", "main").splitlines())
    assert "apps/tiny/overlays/staging/kustomization.yaml" in files
    assert "apps/tiny/overlays/staging/eval.json" in files
    assert "apps/tiny/base/deployment.yaml" in files
    assert json.loads(git(bare, "show", "main:apps/tiny/overlays/staging/eval.json")) == eval_record()
    assert live(bare, "staging").image == IMAGE_A
    assert (live(bare, "staging").status, live(bare, "staging").smoke) == ("live", "skipped")


def test_the_same_digest_twice_makes_no_commit(tmp_path: Path) -> None:
    cfg = gitops_config(tmp_path)
    deployer(cfg).deploy("staging", inputs())
    again = deployer(cfg).deploy("staging", inputs())
    assert not again.changed
    assert again.message == "staging already runs aaaaaaaaaaaa; no new commit"
    assert len(subjects(tmp_path / "gitops.git")) == 1
    deployer(cfg).deploy("staging", inputs(IMAGE_B))
    assert live(tmp_path / "gitops.git", "staging").previous == IMAGE_A


RACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ml_ci.config import load_config
    from ml_ci.deploy.deployer import Deployer
    cfg = load_config(sys.argv[1]).config
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.01)
    d = Deployer(cfg, {}, check_registry=False, log=lambda _: None)
    for pair in sys.argv[3:]:
        src, dst = pair.split(":")
        print(d.promote(src, dst).commit or "-", flush=True)
""")


def race(cfg: Config, tmp_path: Path, *jobs: list[str]) -> list[str]:
    """Run each job (a list of SRC:DST promotions) in its own process, all released at once;
    returns the commits the promotions reported ("-" for one that found nothing to change)."""
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(cfg.path), str(go), *job], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for job in jobs]
    go.touch()
    commits = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        commits += out.split()
    return commits


def test_concurrent_promotions_in_two_processes_lose_no_update(tmp_path: Path) -> None:
    cfg = gitops_config(tmp_path)
    # Slow the remote down so that the two pushes really overlap.
    bare = tmp_path / "gitops.git"
    deployer(cfg).deploy("staging", inputs(IMAGE_A))
    deployer(cfg).deploy("qa", inputs(IMAGE_B))
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\nsleep 0.3\n")
    hook.chmod(0o755)
    race(cfg, tmp_path, ["staging:production"], ["qa:preprod"])
    assert live(bare, "production").image == IMAGE_A
    assert live(bare, "preprod").image == IMAGE_B
    assert live(bare, "production").source == "promote:staging"
    assert sorted(subjects(bare)[:2]) == ["preprod: tiny bbbbbbbbbbbb (promote:qa)",
                                         "production: tiny aaaaaaaaaaaa (promote:staging)"]
    assert git(bare, "show", "main:apps/tiny/overlays/production/eval.json") == \
        git(bare, "show", "main:apps/tiny/overlays/staging/eval.json")


def test_concurrent_promotions_to_one_environment_keep_every_commit(tmp_path: Path) -> None:
    cfg = gitops_config(tmp_path)
    bare = tmp_path / "gitops.git"
    deployer(cfg).deploy("staging", inputs(IMAGE_A))
    deployer(cfg).deploy("qa", inputs(IMAGE_B))
    reported = race(cfg, tmp_path, ["staging:production", "qa:production", "staging:production"],
                    ["qa:production", "staging:production", "qa:production"])
    history = git(bare, "log", "--format=%H %s", "main").splitlines()[:-2]
    # Every promotion that reported a commit is in the history (none was lost to the race), and
    # every commit in the history was reported by one of them. Two processes making the same
    # promotion from the same tip within one second build byte-identical commits (same tree, parent,
    # message and timestamp, so the same SHA): the second push finds it already there and both
    # report it, which is right, so the comparison is on sets.
    assert {c for c in reported if c != "-"} == {line.split()[0] for line in history}
    assert len(history) == len({line.split()[0] for line in history})
    assert all(" production: tiny " in line for line in history)
    assert len(history) >= 2
    assert live(bare, "production").image in (IMAGE_A, IMAGE_B)
    assert git(bare, "fsck", "--no-progress", "--no-dangling") == ""


def test_a_push_refused_by_a_hook_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    cfg = gitops_config(tmp_path)
    bare = tmp_path / "gitops.git"
    deployer(cfg).deploy("staging", inputs(IMAGE_A))
    tip = git(bare, "rev-parse", "main")
    state_before = (tmp_path / ".ml-ci/state/staging/release.json").read_text()
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: deploys are frozen this week' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(DeployError) as e:
        deployer(cfg).promote("staging", "production")
    assert "the GitOps remote refused the push to main; nothing was changed there" in str(e.value)
    assert "policy: deploys are frozen this week" in str(e.value)
    assert git(bare, "rev-parse", "main") == tip
    assert not (tmp_path / ".ml-ci/state/production").exists()
    assert (tmp_path / ".ml-ci/state/staging/release.json").read_text() == state_before


def test_a_failed_smoke_test_is_reverted_by_a_commit(tmp_path: Path) -> None:
    golden = golden_record()
    good, bad = ModelServer(golden), ModelServer(golden, wrong=True)
    try:
        envs = [{"name": "staging", "url": good.url, "smoke_test": {"golden_examples": 4, "timeout_seconds": 5}}]
        cfg = gitops_config(tmp_path, envs=envs)
        bare = tmp_path / "gitops.git"
        first = deployer(cfg).deploy("staging", inputs(IMAGE_A))
        assert (first.release.smoke, first.release.status) == ("passed", "live")
        envs[0]["url"] = bad.url  # the same environment now answers like a wrong model
        cfg = gitops_config(tmp_path, envs=envs)
        with pytest.raises(DeployError) as e:
            deployer(cfg).deploy("staging", inputs(IMAGE_B))
        assert str(e.value).startswith("staging: smoke test failed: example 0 ('text number 0'): label 'negative', "
                                       "recorded 'positive'")
        assert f"reverted to {IMAGE_A}" in str(e.value)
        assert subjects(bare)[0].startswith("staging: revert bbbbbbbbbbbb: smoke test failed")
        assert subjects(bare)[1:] == ["staging: tiny bbbbbbbbbbbb (deploy)", "staging: aaaaaaaaaaaa passed its smoke test",
                                      "staging: tiny aaaaaaaaaaaa (deploy)"]
        assert live(bare, "staging").image == IMAGE_A  # git says what runs
        assert "sha256:" + "a" * 64 in git(bare, "show", "main:apps/tiny/overlays/staging/kustomization.yaml")
    finally:
        good.close()
        bad.close()


def test_an_environment_with_approval_gets_a_review_branch_not_a_push_to_main(tmp_path: Path) -> None:
    envs = [{"name": "staging", **NO_SMOKE}, {"name": "production", "approval": True, **NO_SMOKE}]
    cfg = gitops_config(tmp_path, envs=envs)
    bare = tmp_path / "gitops.git"
    deployer(cfg).deploy("staging", inputs())
    tip = git(bare, "rev-parse", "main")
    result = deployer(cfg).promote("staging", "production")
    assert result.message == "production needs approval: merge branch ml-ci/production/aaaaaaaaaaaa to deploy aaaaaaaaaaaa"
    assert git(bare, "rev-parse", "main") == tip  # nothing reaches production before review
    assert git(bare, "log", "--format=%s", "-1", "ml-ci/production/aaaaaaaaaaaa") == \
        "production: tiny aaaaaaaaaaaa (promote:staging)"
    # Asking again updates the same review branch instead of opening another.
    assert deployer(cfg).promote("staging", "production").commit is not None
    assert git(bare, "branch", "--list", "ml-ci/*").split() == ["ml-ci/production/aaaaaaaaaaaa"]


def test_the_smoke_test_waits_for_the_rollout_to_reach_the_environment(tmp_path: Path) -> None:
    """After a GitOps commit, Argo CD or Flux takes a while: answers from the old model are waited out."""
    import threading

    server = ModelServer(golden_record())
    server.model_sha256 = "old" * 8
    try:
        envs = [{"name": "staging", "url": server.url, "smoke_test": {"golden_examples": 4, "timeout_seconds": 3}}]
        cfg = gitops_config(tmp_path, envs=envs)
        threading.Timer(1.0, lambda: setattr(server, "model_sha256", "new" * 8)).start()
        result = deployer(cfg).deploy("staging", inputs(model_sha256="new" * 8))
        assert (result.release.smoke, result.release.extra) == ("passed", {"model_sha256": "new" * 8})
        server.model_sha256 = "old" * 8  # a rollout that never arrives
        with pytest.raises(DeployError) as e:
            deployer(cfg).deploy("staging", inputs(IMAGE_B, model_sha256="newer" * 4))
        assert f"{server.url} still serves model oldoldoldold, not newernewerne, after 3 s (the rollout did not reach it)" \
            in str(e.value)
        assert live(tmp_path / "gitops.git", "staging").image == IMAGE_A  # reverted
    finally:
        server.close()


def test_a_promotion_is_recorded_as_a_github_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """github3 is faked (no network here); what ml-ci sends it is real."""
    import github3

    from tests.unit.deploy.test_records_and_github import FakeGitHub, FakeRepo

    repo = FakeRepo()
    monkeypatch.setattr(github3, "login", lambda **kw: FakeGitHub(repo))
    cfg = gitops_config(tmp_path)
    environ = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/tiny", "GITHUB_SHA": "0123abc"}
    Deployer(cfg, environ, check_registry=False, log=lambda _: None).deploy("staging", inputs())
    Deployer(cfg, environ, check_registry=False, log=lambda _: None).promote("staging", "production")
    assert [(c["ref"], c["environment"]) for c in repo.calls] == [("0123abc", "production")]
    assert [s[0] for s in repo.deployment.statuses] == ["in_progress", "success"]
    hook = tmp_path / "gitops.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(DeployError):
        Deployer(cfg, environ, check_registry=False, log=lambda _: None).promote("staging", "preprod")
    assert [s[0] for s in repo.deployment.statuses] == ["in_progress", "success", "in_progress", "failure"]


def test_a_smoke_test_without_golden_examples_is_refused_before_any_commit(tmp_path: Path) -> None:
    envs = [{"name": "staging", "url": "http://127.0.0.1:9", "smoke_test": {"golden_examples": 4}}]
    cfg = gitops_config(tmp_path, envs=envs)
    with pytest.raises(DeployError, match=r"^staging: the smoke test needs golden examples \(export/golden.json\)"):
        deployer(cfg).deploy("staging", Inputs(image=parse(IMAGE_A), eval_record=eval_record(), golden=None))
    assert not (tmp_path / "gitops.git").exists()
