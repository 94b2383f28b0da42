"""A model whose lineage names other training data than ml.yaml is refused before it runs (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_ci.config import Config
from ml_ci.data.fingerprint import fingerprints
from ml_ci.evaluate.lineage_check import Change, Freshness, StaleModelError, compare
from ml_ci.evaluate.stage import Options, gather_inputs
from ml_ci.pipeline.layout import Layout
from tests.unit.evaluate.conftest import MakeConfig


def trained(config: Config) -> Path:
    """A model folder as `ml-ci train` leaves it: weights (their content does not matter before the model
    runs) and lineage.json beside it, naming today's splits."""
    model = Layout(config.root).model_dir
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    fps = fingerprints(config)
    lineage = {
        "data": {role: {"source": config.data.split_paths().get(role, role), "fingerprint": fp} for role, fp in fps.items()}
    }
    (model.parent / "lineage.json").write_text(json.dumps(lineage))
    return model


def relabel(config: Config, rows: int) -> None:
    """Flip the label of the first `rows` training rows, as the issue's 200 relabelled rows."""
    path = config.root / "data/train.csv"
    lines = path.read_text().splitlines()
    for i in range(1, rows + 1):
        text, label = lines[i].rsplit(",", 1)
        lines[i] = f"{text},{'negative' if label == 'positive' else 'positive'}"
    path.write_text("\n".join(lines) + "\n")


def test_a_model_trained_on_other_data_is_refused_naming_the_split_and_the_way_out(make_config: MakeConfig) -> None:
    config = make_config()
    trained(config)
    before = fingerprints(config, ["train"])["train"]
    relabel(config, 5)
    now = fingerprints(config, ["train"])["train"]
    with pytest.raises(StaleModelError) as raised:
        gather_inputs(config, Options(), env={})
    assert raised.value.exit_code == 1
    assert str(raised.value) == (
        "the model .ml-ci/artifacts/train/model was trained on other data than ml.yaml names now "
        "(its lineage: .ml-ci/artifacts/train/lineage.json):\n"
        f"  train (data/train.csv): trained on {before[:19]}..., now {now[:19]}...\n"
        "retrain it (`ml-ci train`), or pass --allow-stale-model to evaluate this model anyway "
        "(eval.json then records it as stale)"
    )


def test_allowed_the_stale_model_is_evaluated_and_the_cache_key_knows_it(
    make_config: MakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config()
    trained(config)
    fresh = gather_inputs(config, Options(), env={})
    assert fresh.freshness.status == "matches"
    relabel(config, 5)
    stale = gather_inputs(config, Options(allow_stale_model=True), env={})
    assert stale.freshness.status == "stale"
    assert [c.role for c in stale.freshness.changes] == ["train"]
    assert stale.freshness.to_json()["changed"][0]["role"] == "train"
    assert "warning: evaluating a stale model (--allow-stale-model): train (data/train.csv)" in capsys.readouterr().err
    # The training data is not in evaluate's key otherwise: without the lineage in it, the stale
    # model's run would share the fresh one's cache entry and its record would not say "stale".
    assert stale.key != fresh.key


def test_a_changed_test_split_is_not_staleness(make_config: MakeConfig) -> None:
    """The test split is what the model is measured on, not what it learnt from."""
    config = make_config()
    trained(config)
    path = config.root / "data/test.csv"
    path.write_text(path.read_text() + "one more sentence,positive\n")
    assert gather_inputs(config, Options(), env={}).freshness.status == "matches"


def test_a_model_without_lineage_is_evaluated_as_unknown(make_config: MakeConfig) -> None:
    config = make_config()
    (trained(config).parent / "lineage.json").unlink()
    assert gather_inputs(config, Options(), env={}).freshness == Freshness("unknown", (), ".ml-ci/artifacts/train/lineage.json")


def test_compare_names_a_split_that_appeared_or_went() -> None:
    lineage = {"data": {"train": {"source": "data/train.csv", "fingerprint": "sha256:aa"}}}
    assert compare(lineage, {"train": "sha256:aa"}).status == "matches"
    assert compare(lineage, {"train": "sha256:aa", "validation": "sha256:bb"}).changes == (
        Change("validation", None, "sha256:bb", "validation"),
    )
    assert str(compare(lineage, {}).changes[0]) == "train (data/train.csv): trained on sha256:aa, now no such split"
    assert compare({"name": "x"}, {"train": "sha256:aa"}).status == "unknown"
