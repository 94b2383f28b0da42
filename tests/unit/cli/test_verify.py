"""`ml-ci verify IMAGE`: what it prints and its exit codes (0 verified, 5 refused with each failure, 1 registry
unreachable, 2 no supply_chain in ml.yaml), with the registry replaced by what verify_for returns. The checks
themselves: tests/unit/attest and tests/integration/test_attest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ml_ci.cli.main import cli
from ml_ci.errors import OperationalError
from ml_ci.records.imageref import ImageRef
from ml_ci.supply import attest

CASES = Path(__file__).parents[1] / "config" / "cases" / "positive"
IMAGE = ImageRef("127.0.0.1:5000", "acme/model", "sha256:" + "a" * 64)
FOUND = attest.Findings(
    image=IMAGE,
    failures=(),
    sbom_sha256="sha256:" + "5" * 64,
    sbom_components=42,
    commit="c" * 40,
    config_sha256="sha256:" + "d" * 64,
    verdict="pass",
    builder="pkg:pypi/ml-ci@1.0",
    keyid="k" * 64,
)


def repo(tmp_path: Path, supply_chain: bool = True) -> Path:
    text = (CASES / "minimal.yaml").read_text(encoding="utf-8")
    if supply_chain:
        text += "supply_chain:\n  public_key: ml-ci.pub\n"
        (tmp_path / "ml-ci.pub").write_bytes((CASES / "keys" / "ml-ci-signing.pub").read_bytes())
    (tmp_path / "ml.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "ml.yaml"


def run(path: Path, monkeypatch: pytest.MonkeyPatch, result: Any, *extra: str) -> tuple[Any, list[tuple[str, Any]]]:
    calls: list[tuple[str, Any]] = []

    def verify_for(config: Any, image: str, env: Any, *, commit: Any = None, timeout: float = 30) -> attest.Findings:
        calls.append((image, commit))
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    monkeypatch.setattr(attest, "verify_for", verify_for)
    return CliRunner().invoke(cli, ["verify", "-c", str(path), "127.0.0.1:5000/acme/model:v1", *extra]), calls


def test_a_verified_image_prints_what_was_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, calls = run(repo(tmp_path), monkeypatch, FOUND, "--commit", "c" * 40)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"image: {IMAGE}\n"
        f"SBOM: sha256:{'5' * 64} (42 components)\n"
        f"provenance: commit {'c' * 40}, ml.yaml sha256:{'d' * 64}, eval verdict pass, built by pkg:pypi/ml-ci@1.0\n"
        f"signature: key {'k' * 64}\n"
        "verified: signature, subject digest, SBOM digest, commit, eval verdict\n"
    )
    assert calls == [("127.0.0.1:5000/acme/model:v1", "c" * 40)]


def test_a_refused_image_exits_5_naming_each_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = attest.Findings(image=IMAGE, failures=("signature: one", "SBOM: two"))
    result, _ = run(repo(tmp_path), monkeypatch, refused)
    assert result.exit_code == 5
    assert result.stdout == f"image: {IMAGE}\n"
    assert result.stderr == f"error: {IMAGE} fails verification of its supply chain:\n  - signature: one\n  - SBOM: two\n"


def test_an_unreachable_registry_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    down = OperationalError("the registry at http://127.0.0.1:5000 does not answer (connection refused)")
    result, _ = run(repo(tmp_path), monkeypatch, down)
    assert (result.exit_code, result.stderr) == (1, f"error: {down}\n")


def test_without_a_supply_chain_section_it_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result, calls = run(repo(tmp_path, supply_chain=False), monkeypatch, FOUND)
    assert result.exit_code == 2
    assert "supply_chain: ml-ci verify checks signatures with supply_chain.public_key" in result.stderr
    assert calls == []
