"""Deploy targets: the registry lists them, each implements the whole protocol, and the Deployer asks the
environment's target from the registry for everything but its policy."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar, Optional

import pytest

from ml_ci.config.model import Environment
from ml_ci.deploy import targets
from ml_ci.deploy.context import Context
from ml_ci.deploy.deployer import Deployer
from ml_ci.deploy.inputs import Inputs, Result
from ml_ci.deploy.targets.protocol import Target
from ml_ci.errors import DeployError
from ml_ci.records.imageref import parse
from ml_ci.records.release import Deployed, Release
from tests.unit.deploy.helpers import IMAGE_A, IMAGE_B, config, environments, eval_record, golden_record


def members(protocol: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(protocol) if not name.startswith("_")}


def release(env: str, image: str = IMAGE_A, **changes: Any) -> Release:
    base = Release(environment=env, image=image, verdict="pass", smoke="passed", status="live", deployed_at="t", source="deploy")
    return base.with_(**changes)


class FakeTarget:
    """Records what it is asked; what runs is a dict env name -> Deployed."""

    runs: ClassVar[dict[str, Deployed]] = {}
    calls: ClassVar[list[tuple[str, str]]] = []
    reaches = True
    unhealthy: Optional[str] = None

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def deploy(self, env: Environment, inputs: Inputs) -> Result:
        self.calls.append(("deploy", env.name))
        rel = release(env.name, str(inputs.image), source=inputs.source, extra={"model_sha256": inputs.model_sha256})
        self.runs[env.name] = Deployed(release=rel, eval_record=inputs.eval_record, golden=inputs.golden)
        return Result(rel, True, f"fake: {env.name} runs {inputs.image.short}")

    def live(self, env: Environment) -> Optional[Deployed]:
        self.calls.append(("live", env.name))
        return self.runs.get(env.name)

    def health(self, env: Environment) -> Optional[str]:
        self.calls.append(("health", env.name))
        return self.unhealthy

    def smoke_reaches(self, env: Environment) -> bool:
        return self.reaches

    def url(self, env: Environment) -> Optional[str]:
        return None

    def unchanged(self, env: Environment, release: Release) -> bool:
        self.calls.append(("unchanged", env.name))
        return True


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeTarget]:
    """FakeTarget registered as the gitops target (the strategy of the helpers' config)."""
    monkeypatch.setattr(FakeTarget, "runs", {})
    monkeypatch.setattr(FakeTarget, "calls", [])
    monkeypatch.setitem(targets.REGISTRY, "gitops", FakeTarget)
    return FakeTarget


def inputs(image: str = IMAGE_A, golden: Any = None) -> Inputs:
    return Inputs(image=parse(image), eval_record=eval_record(), golden=golden_record() if golden is None else golden)


def test_the_registry_lists_the_targets() -> None:
    assert targets.names() == ("local", "gitops", "apply")


@pytest.mark.parametrize("name", targets.names())
def test_each_target_implements_the_whole_protocol(name: str, tmp_path: Path) -> None:
    ctx = Context(config=config(tmp_path), environ={})
    target = targets.get(name, ctx)
    missing = sorted(m for m in members(Target) if not callable(getattr(target, m, None)))
    assert not missing, f"{name}: {type(target).__name__} lacks {missing} of Target"
    for m in members(Target):  # the same parameters, so that the Deployer may call any target alike
        assert (
            list(inspect.signature(getattr(target, m)).parameters) == list(inspect.signature(getattr(Target, m)).parameters)[1:]
        )


def test_an_environment_picks_local_by_kind_else_the_strategy(tmp_path: Path) -> None:
    envs = environments(staging={"kind": "local", "port": 8090})
    cfg = config(tmp_path, deploy={"strategy": "apply", "environments": envs})
    assert cfg.deploy is not None
    assert [targets.name_for(cfg.deploy, e) for e in cfg.deploy.environments] == ["local", "apply"]


def test_the_deployer_deploys_through_the_registered_target(tmp_path: Path, fake: type[FakeTarget]) -> None:
    result = Deployer(config(tmp_path), {}, check_registry=False, log=lambda _: None).deploy("staging", inputs())
    assert result.message == "fake: staging runs aaaaaaaaaaaa"
    assert fake.calls == [("deploy", "staging")]


def test_the_policy_refuses_before_the_target_is_asked(tmp_path: Path, fake: type[FakeTarget]) -> None:
    d = Deployer(config(tmp_path), {}, check_registry=False, log=lambda _: None)
    failing = Inputs(image=parse(IMAGE_A), eval_record=eval_record("fail"), golden=golden_record())
    with pytest.raises(DeployError, match=r"the evaluation record's verdict is 'fail'"):
        d.deploy("staging", failing)
    no_golden = Inputs(image=parse(IMAGE_A), eval_record=eval_record(), golden=None)
    with pytest.raises(DeployError, match=r"staging: the smoke test needs golden examples"):
        d.deploy("staging", no_golden)
    assert fake.calls == []
    fake.reaches = False  # where the target's smoke test cannot reach, no golden examples are needed
    try:
        d.deploy("staging", no_golden)
    finally:
        fake.reaches = True
    assert fake.calls == [("deploy", "staging")]


def test_a_promotion_reads_the_targets_and_deploys_what_runs(tmp_path: Path, fake: type[FakeTarget]) -> None:
    d = Deployer(config(tmp_path), {}, check_registry=False, log=lambda _: None)
    with pytest.raises(DeployError, match=r"refusing to promote staging -> production: nothing is deployed in staging"):
        d.promote("staging", "production")
    d.deploy("staging", inputs(IMAGE_B))
    fake.calls.clear()
    result = d.promote("staging", "production")
    assert result.release.image == IMAGE_B and result.release.source == "promote:staging"
    assert fake.runs["production"].eval_record == eval_record() and fake.runs["production"].golden == golden_record()
    assert fake.calls == [("live", "staging"), ("health", "staging"), ("live", "production"), ("deploy", "production")]
    again = d.promote("staging", "production")
    assert (
        not again.changed and again.message == "production already runs bbbbbbbbbbbb (the digest live in staging); nothing to do"
    )


def test_an_unhealthy_source_is_not_promoted(tmp_path: Path, fake: type[FakeTarget], monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deployer(config(tmp_path), {}, check_registry=False, log=lambda _: None)
    d.deploy("staging", inputs())
    monkeypatch.setattr(FakeTarget, "unhealthy", "/readyz answered 503")
    with pytest.raises(
        DeployError, match=r"refusing to promote staging -> production: staging is unhealthy: /readyz answered 503"
    ):
        d.promote("staging", "production")
    assert "production" not in fake.runs
