"""supply_chain in the typed config: absent is None (nothing is attested or verified), present fills its defaults."""

from __future__ import annotations

from pathlib import Path

from ml_ci.config import load_config
from ml_ci.config.model import SupplyChain

CASES = Path(__file__).parent / "cases" / "positive"


def test_absent_section_is_none() -> None:
    assert load_config(CASES / "minimal.yaml").config.supply_chain is None


def test_written_section_is_typed() -> None:
    config = load_config(CASES / "supply_chain.yaml").config
    assert config.supply_chain == SupplyChain(
        attest=True, signing_key_env="RELEASE_SIGNING_KEY", public_key="keys/ml-ci-signing.pub", verify=True
    )


def test_defaults_of_a_section_with_the_key_alone(tmp_path: Path) -> None:
    text = (CASES / "minimal.yaml").read_text(encoding="utf-8") + "supply_chain:\n  public_key: signing.pub\n"
    (tmp_path / "ml.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "signing.pub").write_bytes((CASES / "keys" / "ml-ci-signing.pub").read_bytes())
    config = load_config(tmp_path / "ml.yaml").config
    assert config.supply_chain == SupplyChain(
        attest=True, signing_key_env="ML_CI_SIGNING_KEY", public_key="signing.pub", verify=True
    )
