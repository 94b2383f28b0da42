"""examples/ner: the NER example is valid, and the config half's own checks hold on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.errors import ConfigError
from ml_ci.tasks.token_classification import config as ner_config
from tests.conftest import EXAMPLE

NER = EXAMPLE.parent / "ner"


def test_the_ner_example_is_valid() -> None:
    loaded = load_config(NER / "ml.yaml")
    # As the sentiment example: its GitOps repository is on disk, on purpose.
    assert [(p.path, p.severity) for p in loaded.warnings] == [("deploy.gitops.repo", "warning")]
    spec = ner_config.of(loaded.config)
    assert spec.entity_types == ("PER", "LOC", "ORG", "MISC")
    assert spec.tags == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC")
    assert "f1.PER" in loaded.config.evaluate.metrics


def _with(tmp_path: Path, old: str, new: str) -> Path:
    text = (NER / "ml.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "data").mkdir()
    target = tmp_path / "ml.yaml"
    target.write_text(text.replace(old, new), encoding="utf-8")
    return target


def test_a_per_type_metric_names_an_entity_type(tmp_path: Path) -> None:
    target = _with(tmp_path, "{metric: f1.PER, min: 0.50}", "{metric: f1.PERSON, min: 0.50}")
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    messages = [p.message for p in caught.value.problems]
    assert "'f1.PERSON': 'PERSON' is not one of data.entity_types (PER, LOC, ORG, MISC)" in messages


def test_a_metric_of_another_task_is_refused_with_the_choices(tmp_path: Path) -> None:
    target = _with(tmp_path, "{metric: f1_micro, min: 0.50}", "{metric: accuracy, min: 0.50}")
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    [problem] = [p for p in caught.value.problems if p.path == "evaluate.gates[0].metric"]
    assert problem.message.startswith("'accuracy' is not one of: f1_micro, precision_micro,")
    assert "nor a metric of one entity type (f1.TYPE, precision.TYPE or recall.TYPE); did you mean 'token_accuracy'?" in (
        problem.message
    )


def test_bioes_has_four_tags_per_type() -> None:
    assert ner_config.tag_list(("PER",), "BIOES") == ("O", "B-PER", "I-PER", "E-PER", "S-PER")


def test_a_gate_above_a_per_type_metric_range_is_refused(tmp_path: Path) -> None:
    target = _with(tmp_path, "{metric: f1.PER, min: 0.50}", "{metric: f1.PER, min: 50}")
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    assert any("f1.PER is between 0 and 1, so min 50 can never be reached" in p.message for p in caught.value.problems)
