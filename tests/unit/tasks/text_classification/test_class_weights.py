"""train.class_weights: validated in ml.yaml (exit 2 at the place), resolved against the train split,
applied by the loss, and recorded in lineage.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_ci.config import load_config
from ml_ci.errors import ConfigError
from ml_ci.tasks.text_classification import config as tc_config
from ml_ci.tasks.text_classification import training
from ml_ci.train.lineage import lineage_record
from ml_ci.train.params import as_dict, merge
from tests.modelrepo import make_model_repo

LABELS = ("negative", "positive")


def test_none_is_the_plain_loss() -> None:
    assert training.resolve("none", LABELS, [0, 1]) is None
    assert training.lineage_entry("none", None) is None


def test_balanced_weights_average_to_one_over_the_training_rows() -> None:
    ids = [0] * 9 + [1] * 3
    got = training.resolve("balanced", LABELS, ids)
    assert got == {"negative": 12 / (2 * 9), "positive": 12 / (2 * 3)}
    assert sum(got[LABELS[i]] for i in ids) == pytest.approx(len(ids))
    assert training.resolve("balanced", ("a", "b", "c"), [0, 1]) == {"a": 2 / 3, "b": 2 / 3, "c": 1.0}  # no rows: 1


def test_a_mapping_weights_its_labels_and_leaves_the_rest_at_one() -> None:
    assert training.resolve({"positive": 4}, LABELS, []) == {"negative": 1.0, "positive": 4.0}
    assert training.lineage_entry({"positive": 4}, {"negative": 1.0, "positive": 4.0}) == {
        "setting": {"positive": 4},
        "weights": {"negative": 1.0, "positive": 4.0},
    }


def test_the_loss_scales_each_row_by_its_labels_weight() -> None:
    import torch

    from ml_ci.tasks.text_classification.training import weighted_loss

    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [-1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    plain = torch.nn.functional.cross_entropy(logits, labels)
    assert weighted_loss([1.0, 1.0])({"logits": logits}, labels).item() == pytest.approx(plain.item())
    rows = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    want = (rows[0] * 1 + rows[1] * 3 + rows[2] * 3) / 6  # 6: the rows of the whole accumulated batch
    assert weighted_loss([1.0, 3.0])({"logits": logits}, labels, num_items_in_batch=6).item() == pytest.approx(want.item())


def _load(tmp_path: Path, class_weights: Any) -> Any:
    return load_config(make_model_repo(tmp_path, overrides={"train": {"class_weights": class_weights}})).config


@pytest.mark.parametrize(
    ("class_weights", "message"),
    [
        (
            {"neutral": 2},
            "ml.yaml:22:5: train.class_weights.neutral: 'neutral' is not one of data.labels; the labels are "
            "'negative', 'positive'",
        ),
        (
            {"Positive": 2},
            "ml.yaml:22:5: train.class_weights.Positive: 'Positive' is not one of data.labels; did you mean 'positive'?",
        ),
        ({"positive": -1}, "ml.yaml:22:15: train.class_weights.positive: -1 is less than the minimum 0"),
        ("sometimes", "ml.yaml:21:18: train.class_weights: 'sometimes' does not match the pattern ^(none|balanced)$"),
        ({}, "ml.yaml:21:18: train.class_weights: no weight given: write a weight per label (e.g. {positive: 4}), or balanced"),
        (
            {"negative": 0, "positive": 0},
            "ml.yaml:22:5: train.class_weights: every weight is 0: the loss would be 0 and nothing would be learned",
        ),
    ],
)
def test_bad_class_weights_are_config_errors_at_their_place(tmp_path: Path, class_weights: Any, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, class_weights)
    assert e.value.exit_code == 2
    assert [str(p) for p in e.value.problems] == [f"{tmp_path}/{message}"]


def test_good_class_weights_load_and_go_into_lineage(tmp_path: Path) -> None:
    assert tc_config.of(_load(tmp_path / "a", "balanced")).class_weights == "balanced"
    config = _load(tmp_path / "b", {"positive": 4})
    spec = tc_config.of(config)
    assert spec.class_weights == {"positive": 4}
    resolved = training.resolve(spec.class_weights, spec.labels, [0, 1])
    record = lineage_record(
        config,
        config_sha256="sha256:cfg",
        git=None,
        fingerprints={},
        sources={},
        base_identity="sha256:base",
        packages={},
        hparams=as_dict(merge(config.train)),
        precision="fp32",
        world_size=1,
        cache_key="k",
        params_file=None,
        loss_weights=resolved,
    )
    assert record["class_weights"] == {"setting": {"positive": 4}, "weights": {"negative": 1.0, "positive": 4.0}}
