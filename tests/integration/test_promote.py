"""`ml-ci promote` refuses, with exit 5 and the reason, anything but a live, gated, smoke-tested,
healthy release; and promotes exactly the source's digest and records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main
from ml_ci.config import Config
from ml_ci.deploy import state
from ml_ci.records.release import RELEASE, Deployed, Release
from tests.unit.deploy.helpers import IMAGE_A, config, eval_record, golden_record

pytestmark = pytest.mark.integration


def apply_config(root: Path, **staging: Any) -> Config:
    envs = [{"name": "staging", "smoke_test": {"enabled": False}, **staging}, {"name": "production"}]
    return config(root, name="promotetest", deploy={"strategy": "apply", "environments": envs})


def seed(cfg: Config, **changes: Any) -> None:
    """Record what 'runs' in staging, as a deploy would have."""
    release = Release(
        environment="staging",
        image=IMAGE_A,
        verdict="pass",
        smoke="passed",
        status="live",
        deployed_at="2026-01-01T00:00:00+00:00",
        source="deploy",
    ).with_(**changes)
    state.save(cfg.root, Deployed(release=release, eval_record=eval_record(release.verdict), golden=golden_record()))


def promote(cfg: Config, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["promote", "-c", str(cfg.path), "--from", "staging", "--to", "production"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"verdict": "fail"}, "the quality gates of the model in staging (aaaaaaaaaaaa) did not pass (verdict fail)"),
        (
            {"smoke": "failed", "status": "reverted", "reason": "smoke test failed: example 0"},
            "staging is not live on aaaaaaaaaaaa (status reverted: smoke test failed: example 0)",
        ),
        ({"smoke": "failed"}, "the smoke test of aaaaaaaaaaaa in staging did not pass (smoke test failed)"),
        ({"status": "pending", "smoke": "pending"}, "staging is not live on aaaaaaaaaaaa (status pending)"),
    ],
)
def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], reason: str) -> None:
    cfg = apply_config(tmp_path)
    seed(cfg, **changes)
    code, err = promote(cfg, capsys)
    assert (code, err) == (5, f"error: refusing to promote staging -> production: {reason}\n")
    assert not (tmp_path / ".ml-ci/state/production").exists()  # nothing half-promoted


def test_nothing_deployed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(
        tmp_path,
        name="promotetest",
        deploy={
            "strategy": "apply",
            "environments": [{"name": "staging", "kind": "local", "port": 1}, {"name": "production", "kind": "local", "port": 2}],
        },
    )
    assert promote(cfg, capsys) == (
        5,
        "error: refusing to promote staging -> production: nothing is deployed in staging "
        "yet: deploy there first (`ml-ci deploy --env staging`)\n",
    )


def test_without_a_record_or_cluster_access_promotion_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    code, err = promote(apply_config(tmp_path), capsys)
    assert code == 5
    assert err.startswith(
        "error: cannot tell what runs in staging (no local record, and the cluster says: "
        f"no Kubernetes credentials: the kubeconfig {tmp_path / 'none'}: "
    )


def test_an_unhealthy_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The record says live, but the environment's URL does not answer /readyz (a closed port).
    from ml_ci.net import free_port

    cfg = apply_config(tmp_path, url=f"http://127.0.0.1:{free_port()}")
    seed(cfg)
    code, err = promote(cfg, capsys)
    assert code == 5
    assert err.startswith("error: refusing to promote staging -> production: staging is unhealthy: /readyz at http://127.0.0.1:")


def test_an_unhealthy_local_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.services import base_image

    base_image()  # the Docker engine that serves local environments comes with it
    cfg = config(
        tmp_path,
        name="promotetest",
        deploy={
            "strategy": "apply",
            "environments": [{"name": "staging", "kind": "local", "port": 1}, {"name": "production", "kind": "local", "port": 2}],
        },
    )
    seed(cfg)
    code, err = promote(cfg, capsys)
    assert (code, err) == (
        5,
        "error: refusing to promote staging -> production: staging is unhealthy: no container ml-ci-promotetest-staging exists\n",
    )


def test_unknown_environments_and_self_promotion_are_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = apply_config(tmp_path)
    assert main(["promote", "-c", str(cfg.path), "--from", "staging", "--to", "prod"]) == 2
    assert "no environment named 'prod' (ml.yaml has: staging, production)" in capsys.readouterr().err
    assert main(["promote", "-c", str(cfg.path), "--from", "staging", "--to", "staging"]) == 2
    assert "cannot promote staging to itself" in capsys.readouterr().err


def test_the_gitops_record_is_what_promotion_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a GitOps repository, the release comes from the repository, not from local state."""
    from tests.integration.test_gitops import deployer, git, gitops_config, inputs

    cfg = gitops_config(tmp_path)
    deployer(cfg).deploy("staging", inputs())
    bare = tmp_path / "gitops.git"
    release = Release.from_json(git(bare, "show", f"main:apps/tiny/overlays/staging/{RELEASE}"), "x")
    assert release.good
    (tmp_path / ".ml-ci/state").rename(tmp_path / "elsewhere")  # the state cache is not consulted
    result = deployer(cfg).promote("staging", "production")
    assert result.release.image == IMAGE_A
    assert json.loads(git(bare, "show", "main:apps/tiny/overlays/production/golden.json")) == golden_record()
