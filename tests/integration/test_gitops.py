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
from ml_ci.deploy.deployer import Deployer
from ml_ci.deploy.inputs import Inputs
from ml_ci.errors import DeployError
from ml_ci.records.imageref import parse
from ml_ci.records.release import Release
from tests.unit.deploy.helpers import DIGEST_A, IMAGE_A, IMAGE_B, ModelServer, config, eval_record, golden_record

pytestmark = pytest.mark.integration

NO_SMOKE = {"smoke_test": {"enabled": False}}


def gitops_config(root: Path, *, envs: list[dict[str, Any]] | None = None) -> Config:
    envs = envs or [{"name": n, **NO_SMOKE} for n in ("staging", "production", "qa", "preprod")]
    return config(
        root,
        deploy={
            "strategy": "gitops",
            "gitops": {"repo": "gitops.git", "path": "apps/tiny", "create": True},
            "environments": envs,
        },
    )


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


def test_an_unchanged_digest_is_a_no_op_that_still_sets_the_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rerun of the release with an unchanged model (same digest): deploy and promote say so, commit nothing,
    exit 0, and still give later steps the digest."""
    from ml_ci.cli.deploy import report

    cfg = gitops_config(tmp_path)
    deployer(cfg).deploy("staging", inputs())
    deployer(cfg).promote("staging", "production")
    commits = subjects(tmp_path / "gitops.git")
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    assert report(deployer(cfg).deploy("staging", inputs())) == 0
    assert report(deployer(cfg).promote("staging", "production")) == 0
    assert subjects(tmp_path / "gitops.git") == commits
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "staging already runs aaaaaaaaaaaa; no new commit",
        "production already runs aaaaaaaaaaaa (the digest live in staging); nothing to do",
    ]
    written = outputs.read_text()
    assert written.count(f"digest={DIGEST_A}") == 2 and written.count("changed=false") == 2


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
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(cfg.path), str(go), *job], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for job in jobs
    ]
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
    assert sorted(subjects(bare)[:2]) == [
        "preprod: tiny bbbbbbbbbbbb (promote:qa)",
        "production: tiny aaaaaaaaaaaa (promote:staging)",
    ]
    assert git(bare, "show", "main:apps/tiny/overlays/production/eval.json") == git(
        bare, "show", "main:apps/tiny/overlays/staging/eval.json"
    )


def test_concurrent_promotions_to_one_environment_keep_every_commit(tmp_path: Path) -> None:
    cfg = gitops_config(tmp_path)
    bare = tmp_path / "gitops.git"
    deployer(cfg).deploy("staging", inputs(IMAGE_A))
    deployer(cfg).deploy("qa", inputs(IMAGE_B))
    reported = race(
        cfg,
        tmp_path,
        ["staging:production", "qa:production", "staging:production"],
        ["qa:production", "staging:production", "qa:production"],
    )
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
        assert str(e.value).startswith(
            "staging: smoke test failed: example 0 ('text number 0'): label 'negative', recorded 'positive'"
        )
        assert f"reverted to {IMAGE_A}" in str(e.value)
        assert subjects(bare)[0].startswith("staging: revert bbbbbbbbbbbb: smoke test failed")
        assert subjects(bare)[1:] == [
            "staging: tiny bbbbbbbbbbbb (deploy)",
            "staging: aaaaaaaaaaaa passed its smoke test",
            "staging: tiny aaaaaaaaaaaa (deploy)",
        ]
        assert live(bare, "staging").image == IMAGE_A  # git says what runs
        assert "sha256:" + "a" * 64 in git(bare, "show", "main:apps/tiny/overlays/staging/kustomization.yaml")
    finally:
        good.close()
        bad.close()


def merge_review(bare: Path, branch: str, work: Path, *how: str) -> None:
    """What a reviewer does: merge the review branch into main (here with git, as GitHub's merge button would)."""
    who = ["-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com"]
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True)
    subprocess.run(
        ["git", "-C", str(work), *who, "merge", "-q", *(how or ("--no-ff",)), f"origin/{branch}", "-m", f"Merge {branch}"],
        check=True,
        capture_output=True,
    )
    if "--squash" in how:
        subprocess.run(["git", "-C", str(work), *who, "commit", "-q", "-m", f"Squashed {branch}"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True, capture_output=True)


def approval_config(tmp_path: Path, url: str) -> Config:
    envs: list[dict[str, Any]] = [
        {"name": "staging", **NO_SMOKE},
        {"name": "production", "approval": True, "url": url, "smoke_test": {"golden_examples": 4, "timeout_seconds": 5}},
        {"name": "qa", **NO_SMOKE},
    ]
    return gitops_config(tmp_path, envs=envs)


def test_approval_completes_once_the_review_is_merged(tmp_path: Path) -> None:
    """The whole approval loop against a real remote: a review branch, the same request again (no new commit),
    a reviewer's merge, then the next promote smoke-tests production and records it live; once."""
    server = ModelServer(golden_record())
    try:
        cfg = approval_config(tmp_path, server.url)
        bare, branch = tmp_path / "gitops.git", "ml-ci/production/aaaaaaaaaaaa"
        deployer(cfg).deploy("staging", inputs())
        tip = git(bare, "rev-parse", "main")
        result = deployer(cfg).promote("staging", "production")
        assert result.message == (
            f"production needs approval: merge branch {branch} to deploy aaaaaaaaaaaa, then run this again to record it live"
        )
        assert git(bare, "rev-parse", "main") == tip  # nothing reaches production before review
        assert git(bare, "log", "--format=%s", "-1", branch) == "production: tiny aaaaaaaaaaaa (promote:staging)"
        proposed = Release.from_json(git(bare, "show", f"{branch}:apps/tiny/overlays/production/release.json"), "x")
        assert (proposed.status, proposed.smoke) == ("pending", "pending")

        # Asking again before the merge changes nothing: the same change is already up for review.
        review_tip = git(bare, "rev-parse", branch)
        again = deployer(cfg).promote("staging", "production")
        assert (again.changed, again.commit) == (False, None)
        assert again.message.endswith("(already up for review; no new commit)")
        assert git(bare, "rev-parse", branch) == review_tip

        merge_review(bare, branch, tmp_path / "reviewer")
        assert live(bare, "production").status == "pending"  # merged: approved, not yet smoke-tested
        done = deployer(cfg).promote("staging", "production")
        assert done.changed and done.message.startswith("production: approved; aaaaaaaaaaaa is live; smoke test passed")
        assert (live(bare, "production").status, live(bare, "production").smoke) == ("live", "passed")
        assert live(bare, "production").reason is None
        assert subjects(bare)[0] == "production: aaaaaaaaaaaa passed its smoke test"
        assert git(bare, "branch", "--list", "ml-ci/*") == ""  # the completed review's branch is gone
        # The reviewed files stay as merged: completing touched release.json only.
        changed = git(bare, "diff", "--name-only", "main~1", "main").splitlines()
        assert changed == ["apps/tiny/overlays/production/release.json"]

        # Complete: the same promotion again is a no-op, and production can be promoted from.
        commits = len(subjects(bare))
        noop = deployer(cfg).promote("staging", "production")
        assert (noop.changed, noop.release.status) == (False, "live")
        assert noop.message == "production already runs aaaaaaaaaaaa (the digest live in staging); nothing to do"
        assert len(subjects(bare)) == commits
        assert deployer(cfg).promote("production", "qa").release.image == IMAGE_A
    finally:
        server.close()


@pytest.mark.parametrize("how", [(), ("--ff-only",), ("--squash",)], ids=["merge", "fast-forward", "squash"])
def test_a_merged_review_that_fails_its_smoke_test_is_reverted_to_what_ran_before(tmp_path: Path, how: tuple[str, ...]) -> None:
    server = ModelServer(golden_record())
    try:
        cfg = approval_config(tmp_path, server.url)
        bare = tmp_path / "gitops.git"
        deployer(cfg).deploy("staging", inputs())
        deployer(cfg).promote("staging", "production")
        merge_review(bare, "ml-ci/production/aaaaaaaaaaaa", tmp_path / "first")
        assert deployer(cfg).promote("staging", "production").release.status == "live"
        good = git(bare, "show", "main:apps/tiny/overlays/production/kustomization.yaml")

        deployer(cfg).deploy("staging", inputs(IMAGE_B))
        deployer(cfg).promote("staging", "production")
        merge_review(bare, "ml-ci/production/bbbbbbbbbbbb", tmp_path / "second", *how)
        server.wrong = True  # what was rolled out answers like another model
        with pytest.raises(DeployError) as e:
            deployer(cfg).promote("staging", "production")
        assert str(e.value).startswith("production: smoke test failed: example 0")
        assert f"reverted to {IMAGE_A}" in str(e.value)
        assert subjects(bare)[0].startswith("production: revert bbbbbbbbbbbb: smoke test failed")
        assert live(bare, "production").image == IMAGE_A and live(bare, "production").status == "live"
        assert git(bare, "show", "main:apps/tiny/overlays/production/kustomization.yaml") == good
    finally:
        server.close()


def test_approval_without_a_smoke_test_completes_on_the_next_deploy(tmp_path: Path) -> None:
    envs: list[dict[str, Any]] = [{"name": "staging", **NO_SMOKE}, {"name": "production", "approval": True, **NO_SMOKE}]
    cfg = gitops_config(tmp_path, envs=envs)
    bare = tmp_path / "gitops.git"
    deployer(cfg).deploy("production", inputs())
    assert not git(bare, "branch", "--list", "main")  # nothing on main before review
    merge_review(bare, "ml-ci/production/aaaaaaaaaaaa", tmp_path / "reviewer", "--ff-only")
    done = deployer(cfg).deploy("production", inputs())
    assert (done.changed, done.message) == (True, "production: approved; aaaaaaaaaaaa is live")
    assert (live(bare, "production").status, live(bare, "production").smoke) == ("live", "skipped")
    assert not deployer(cfg).deploy("production", inputs()).changed


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
        assert f"{server.url} still serves model oldoldoldold, not newernewerne, after 3 s (the rollout did not reach it)" in str(
            e.value
        )
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
    # The same digest again: no commit, and no GitHub Deployment either (nothing was deployed).
    commits = len(subjects(tmp_path / "gitops.git"))
    assert not Deployer(cfg, environ, check_registry=False, log=lambda _: None).promote("staging", "production").changed
    assert len(repo.calls) == 1 and len(subjects(tmp_path / "gitops.git")) == commits
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


@pytest.mark.parametrize("spec", ["acme/deploy.git", "github.com/acme/deploy"])
def test_a_mistyped_repository_is_refused_and_nothing_is_created(
    tmp_path: Path, spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once, `acme/deploy.git` became a new bare repository inside the model repository and the deploy went green."""
    from ml_ci.cli.main import main
    from tests.modelrepo import make_model_repo
    from tests.unit.deploy.helpers import write_artifacts

    path = make_model_repo(
        tmp_path,
        name="tiny",
        overrides={
            "image": {"registry": "127.0.0.1:5000", "repository": "acme/tiny", "base": "ml-ci-base:bookworm"},
            "deploy": {
                "strategy": "gitops",
                "gitops": {"repo": spec, "path": "apps/tiny"},
                "environments": [{"name": "staging", **NO_SMOKE}],
            },
        },
    )
    write_artifacts(tmp_path)
    assert main(["deploy", "-c", str(path), "--env", "staging"]) == 2
    err = capsys.readouterr().err
    assert f"deploy.gitops.repo: {spec!r} is not a URL or owner/name, and no repository exists at {tmp_path / spec}" in err
    assert "did you mean " in err and "set deploy.gitops.create: true" in err
    assert not (tmp_path / spec.split("/")[0]).exists()


def test_a_missing_repository_outside_the_model_repository_is_refused_at_deploy(tmp_path: Path) -> None:
    """An absolute folder may exist only on the deploying machine, so validate only warns; deploy refuses it."""
    from ml_ci.errors import ConfigError

    elsewhere = tmp_path / "srv" / "gitops.git"
    cfg = config(
        tmp_path / "repo",
        deploy={
            "strategy": "gitops",
            "gitops": {"repo": str(elsewhere), "path": "apps/tiny"},
            "environments": [{"name": "staging", **NO_SMOKE}, {"name": "production"}],
        },
    )
    with pytest.raises(ConfigError) as e:
        deployer(cfg).deploy("staging", inputs())
    assert str(e.value) == (
        f"{cfg.path}: deploy.gitops.repo: {str(elsewhere)!r} is not a URL or owner/name, and no "
        f"repository exists at {elsewhere}: expected owner/name on GitHub, a git URL (https://, ssh://, "
        "git@host:path) or an existing repository on disk; to create a scratch bare repository there on "
        "the first deploy, set deploy.gitops.create: true"
    )
    with pytest.raises(ConfigError, match=r"deploy\.gitops\.repo: "):
        deployer(cfg).promote("staging", "production")  # reading it is refused alike: not "nothing deployed"
    assert not (tmp_path / "srv").exists()
