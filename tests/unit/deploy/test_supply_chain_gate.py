"""deploy and promote with supply_chain.verify: the image's attestations are checked before anything changes
(the target is never called, no GitHub Deployment is opened) and a failure is a DeployError (exit 5) naming it.
Verification itself is replaced by what attest.verify_for returns; against the real registry it is
tests/integration/test_attest.py, which also refuses an unattested image in a real `kind: local` deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Config, Environment
from ml_ci.deploy.deployer import Deployer
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.errors import DeployError
from ml_ci.records.imageref import parse
from ml_ci.records.release import Deployed, Release
from ml_ci.supply import attest
from tests.modelrepo import make_model_repo
from tests.unit.deploy.helpers import IMAGE_A, eval_record

KEY = Path(__file__).parents[1] / "config" / "cases" / "positive" / "keys" / "ml-ci-signing.pub"
ENVS = [
    {"name": "staging", "kind": "local", "port": 18080, "smoke_test": {"enabled": False}},
    {"name": "production", "kind": "local", "port": 18081, "smoke_test": {"enabled": False}},
]


def repo(tmp_path: Path, supply_chain: Optional[dict[str, Any]]) -> Config:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ml-ci.pub").write_bytes(KEY.read_bytes())
    overrides: dict[str, Any] = {
        "image": {"registry": "127.0.0.1:5000", "repository": "acme/tiny"},
        "deploy": {"strategy": "gitops", "environments": ENVS},
    }
    if supply_chain is not None:
        overrides["supply_chain"] = supply_chain
    return load_config(make_model_repo(tmp_path, n_train=10, n_val=4, n_test=4, overrides=overrides)).config


class Target:
    def __init__(self, live: Optional[Deployed] = None) -> None:
        self.deployed: list[Inputs] = []
        self._live = live

    def smoke_reaches(self, env: Environment) -> bool:
        return False

    def deploy(self, env: Environment, inputs: Inputs) -> Result:
        self.deployed.append(inputs)
        release = Release(
            environment=env.name, image=str(inputs.image), verdict="pass", smoke="skipped", status="live",
            deployed_at="2026-01-01T00:00:00+00:00", source=inputs.source,
        )  # fmt: skip
        return Result(release, True, "deployed")

    def live(self, env: Environment) -> Optional[Deployed]:
        return self._live if env.name == "staging" else None

    def health(self, env: Environment) -> Optional[str]:
        return None


def deployer(config: Config, target: Target, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Deployer:
    d = Deployer(config, env, check_registry=False, log=lambda _: None)
    monkeypatch.setattr(d, "target", lambda _env: target)
    return d


def findings(*failures: str) -> attest.Findings:
    return attest.Findings(image=parse(IMAGE_A), failures=failures, commit="c" * 40, verdict="pass", keyid="k")


class Verifier:
    """Stands for attest.verify_for: records (image, expected commit) and returns `result`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Optional[str]]] = []
        self.result = findings()

    def __call__(self, config: Config, image: Any, env: Any, *, commit: Optional[str] = None, timeout: float = 30) -> Any:
        self.calls.append((str(image), commit))
        return self.result


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> Verifier:
    v = Verifier()
    monkeypatch.setattr(attest, "verify_for", v)
    return v


def inputs(source: str = "deploy") -> Inputs:
    return Inputs(image=parse(IMAGE_A), eval_record=eval_record(), golden=None, source=source)


def test_a_refused_image_is_never_deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: Verifier) -> None:
    verifier.result = findings("signature: the envelope x is signed by key a, not by the expected key b")
    target = Target()
    with pytest.raises(DeployError) as caught:
        deployer(repo(tmp_path, {"public_key": "keys/ml-ci.pub"}), target, {}, monkeypatch).deploy("staging", inputs())
    assert caught.value.exit_code == 5
    assert str(caught.value) == (
        f"{IMAGE_A} fails verification of its supply chain:\n"
        "  - signature: the envelope x is signed by key a, not by the expected key b"
    )
    assert target.deployed == []


def test_a_verified_image_is_deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: Verifier) -> None:
    target = Target()
    deployer(repo(tmp_path, {"public_key": "keys/ml-ci.pub"}), target, {}, monkeypatch).deploy("staging", inputs())
    assert [str(i.image) for i in target.deployed] == [IMAGE_A]
    assert verifier.calls == [(IMAGE_A, None)]  # outside Actions no commit is expected


def test_in_actions_deploy_expects_its_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: Verifier) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_SHA": "c" * 40}
    deployer(repo(tmp_path, {"public_key": "keys/ml-ci.pub"}), Target(), env, monkeypatch).deploy("staging", inputs())
    assert verifier.calls == [(IMAGE_A, "c" * 40)]


@pytest.mark.parametrize("section", [None, {"public_key": "keys/ml-ci.pub", "verify": False}])
def test_nothing_is_verified_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: Verifier, section: Any
) -> None:
    target = Target()
    deployer(repo(tmp_path, section), target, {}, monkeypatch).deploy("staging", inputs())
    assert verifier.calls == [] and len(target.deployed) == 1


def live_in_staging() -> Deployed:
    release = Release(
        environment="staging", image=IMAGE_A, verdict="pass", smoke="passed", status="live",
        deployed_at="2026-01-01T00:00:00+00:00", source="deploy",
    )  # fmt: skip
    return Deployed(release=release, eval_record=eval_record())


def test_promote_verifies_once_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verifier: Verifier) -> None:
    target = Target(live_in_staging())
    d = deployer(repo(tmp_path, {"public_key": "keys/ml-ci.pub"}), target, {"GITHUB_ACTIONS": "true"}, monkeypatch)
    opened: list[Any] = []
    monkeypatch.setattr(d, "_github", lambda call: opened.append(call))
    verifier.result = findings("evaluation: the evaluation record the provenance names has verdict 'fail'")
    with pytest.raises(DeployError, match="fails verification of its supply chain"):
        d.promote("staging", "production")
    assert (target.deployed, opened) == ([], [])
    verifier.result = findings()
    d.promote("staging", "production")
    assert verifier.calls == [(IMAGE_A, None), (IMAGE_A, None)]  # a promotion expects no commit; its deploy is not checked twice
    assert len(target.deployed) == 1
