"""The build's supply_chain hook: the signing key is read before anything is built, so a missing secret fails
(exit 1, naming the variable) without touching the Docker engine; without the section, or with --no-push, the key
is never asked for. The attestation after a real push is tested in tests/integration/test_attest.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci.build import docker_ops, stage
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.pipeline.layout import Layout
from tests.unit.deploy.helpers import golden_record

KEY = Path(__file__).parents[1] / "config" / "cases" / "positive" / "keys" / "ml-ci-signing.pub"
MINIMAL = Path(__file__).parents[1] / "config" / "cases" / "positive" / "minimal.yaml"


class Engine(Exception):
    """Raised where the build would reach the Docker engine: the test stops there."""


def repo(tmp_path: Path, supply_chain: str) -> Config:
    (tmp_path / "ml.yaml").write_text(MINIMAL.read_text(encoding="utf-8") + supply_chain, encoding="utf-8")
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ml-ci.pub").write_bytes(KEY.read_bytes())
    golden = Layout(tmp_path).golden
    golden.parent.mkdir(parents=True)
    golden.write_text(json.dumps(golden_record()), encoding="utf-8")
    return load_config(tmp_path / "ml.yaml").config


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def engine() -> Any:
        raise Engine

    monkeypatch.setattr(stage, "plan_build", lambda config, env, tags: object())
    monkeypatch.setattr(docker_ops, "client", engine)


def test_a_missing_signing_key_fails_before_the_build(tmp_path: Path) -> None:
    config = repo(tmp_path, "supply_chain:\n  signing_key_env: RELEASE_KEY\n  public_key: keys/ml-ci.pub\n")
    with pytest.raises(OperationalError, match=r"^RELEASE_KEY is not set: it should hold the PEM private key"):
        stage.run_build(config, push=True, env={}, log=lambda _: None)


def test_a_key_that_is_not_pem_fails_before_the_build(tmp_path: Path) -> None:
    config = repo(tmp_path, "supply_chain:\n  public_key: keys/ml-ci.pub\n")
    with pytest.raises(OperationalError, match=r"^ML_CI_SIGNING_KEY does not hold a PEM private key"):
        stage.run_build(config, push=True, env={"ML_CI_SIGNING_KEY": "not a key"}, log=lambda _: None)


@pytest.mark.parametrize(
    ("section", "push"),
    [
        ("", True),  # no supply_chain: the build never asks for a key
        ("supply_chain:\n  public_key: keys/ml-ci.pub\n", False),  # --no-push: nothing to attest
        ("supply_chain:\n  attest: false\n  public_key: keys/ml-ci.pub\n", True),
    ],
)
def test_no_key_is_asked_for_when_nothing_is_attested(tmp_path: Path, section: str, push: bool) -> None:
    config = repo(tmp_path, section)
    with pytest.raises(Engine):
        stage.run_build(config, push=push, env={}, log=lambda _: None)
