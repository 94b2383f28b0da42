from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ml_ci.errors import OperationalError
from ml_ci.evaluate.baseline import BaselineSources, check_compatible, pair, production_path, resolve
from ml_ci.records.evaluation import KIND, EvalRecord
from tests.unit.evaluate.conftest import MakeConfig

GITOPS = {
    "strategy": "gitops",
    "gitops": {"repo": "acme/deploy", "path": "apps/tiny"},
    "environments": [{"name": "production", "kind": "local", "port": 18082}],
}
RELATIVE = {
    "gates": [
        {"metric": "accuracy", "against": "production", "max_drop": 0.01},
        {"metric": "f1_macro", "against": "main", "max_drop": 0.01},
    ]
}


def record(**changes: object) -> dict[str, object]:
    return {
        "kind": KIND,
        "format": 1,
        "name": "tiny-sentiment",
        "task": "text-classification",
        "labels": ["negative", "positive"],
        "metrics": {"accuracy": 0.9},
        **changes,
    }


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_record_of_another_model_or_label_set_is_refused(make_config: MakeConfig) -> None:
    config = make_config()
    check_compatible(EvalRecord.from_json(record()), config, "b.json")
    at_the_end = {k: v for k, v in record().items() if k != "labels"} | {"labels": ["negative", "positive"]}
    found = resolve(make_config(evaluate=RELATIVE), BaselineSources(baseline=write(config.root / "end.json", at_the_end)))
    assert found["main"] is not None and found["main"].record.task_head == {"labels": ["negative", "positive"]}
    with pytest.raises(OperationalError) as e:
        check_compatible(EvalRecord.from_json(record(name="spam-filter")), config, "b.json")
    assert str(e.value) == (
        "baseline b.json is the evaluation of 'spam-filter' (text-classification), not of "
        "'tiny-sentiment' (text-classification): point the baseline at this model's eval.json"
    )
    with pytest.raises(OperationalError) as e:
        check_compatible(EvalRecord.from_json(record(labels=["neg", "pos", "neutral"])), config, "b.json")
    assert str(e.value) == (
        "baseline b.json has labels ['neg', 'pos', 'neutral'], but ml.yaml data.labels is "
        "['negative', 'positive']: a model with another label set is not a baseline"
    )


def test_production_comes_from_the_gitops_checkout_and_main_from_its_own_file(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(deploy=GITOPS, evaluate=RELATIVE, image={"repository": "acme/tiny"})
    gitops = tmp_path / "gitops"
    prod = write(production_path(config, gitops), record(metrics={"accuracy": 0.91}))
    assert prod == gitops / "apps/tiny/overlays/production/eval.json"
    main_dir = tmp_path / "main-artifact"
    write(main_dir / "eval.json", record(metrics={"f1_macro": 0.8}))
    found = resolve(config, BaselineSources(gitops_dir=gitops, main=main_dir))
    assert found["production"] is not None and found["production"].record.metrics == {"accuracy": 0.91}
    assert found["main"] is not None and found["main"].source == str(main_dir / "eval.json")


def test_nothing_deployed_yet_is_no_baseline_but_a_wrong_path_is_an_error(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(deploy=GITOPS, evaluate=RELATIVE, image={"repository": "acme/tiny"})
    (tmp_path / "gitops").mkdir()
    assert resolve(config, BaselineSources(gitops_dir=tmp_path / "gitops")) == {"main": None, "production": None}
    with pytest.raises(OperationalError, match=r"baseline for `against: main` .*/nope\.json does not exist"):
        resolve(config, BaselineSources(main=tmp_path / "nope.json"))
    with pytest.raises(OperationalError, match="is not an ml-ci evaluation record"):
        resolve(config, BaselineSources(baseline=write(tmp_path / "other.json", {"accuracy": 1})))


def test_gitops_dir_without_deploy_gitops_says_what_is_missing(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(evaluate=RELATIVE)
    with pytest.raises(OperationalError, match=r"--gitops-dir needs deploy.gitops in ml.yaml"):
        resolve(config, BaselineSources(gitops_dir=tmp_path))


def test_pairing_matches_texts_by_hash_and_repeats_in_order() -> None:
    mine, theirs = pair(("a", "b", "a", "c"), ("a", "z", "a", "b"))
    assert (mine.tolist(), theirs.tolist()) == ([0, 1, 2], [0, 3, 2])  # c has no partner, z is not in the current split
    mine, theirs = pair(("a", "b", "a", "c"), ("a", "z", "a", "b"), np.asarray([2, 3]))
    assert (mine.tolist(), theirs.tolist()) == ([2], [0])  # a slice pairs its own rows, in order


def test_the_cache_key_reads_a_baseline_as_its_file_says(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key's baseline digest is the file's JSON (what it was before the record was typed), not a spelling
    of the EvalRecord object."""
    from ml_ci.cache import value_digest
    from ml_ci.evaluate import stage
    from tests.unit.evaluate.test_lineage_check import trained

    config = make_config(evaluate=RELATIVE)
    trained(config)
    full = {**record(), "format": 2, "split": "test", "data_fingerprint": None, "examples": 0, "created": None}
    full |= {"git": {}, "model": {}, "reported_metrics": [], "undefined": {}, "per_class": {}, "confusion_matrix": []}
    full |= {"latency": {}, "slices": [], "gates": [], "verdict": "pass", "baselines": {}, "history": [], "predictions": []}
    main = write(tmp_path / "main.json", full)
    seen: dict[str, object] = {}
    monkeypatch.setattr(stage, "cache_inputs", lambda config, **inputs: seen.update(inputs) or {})
    stage.gather_inputs(config, stage.Options(sources=BaselineSources(main=main)), {})
    assert seen["baselines"] == {"main": (str(main), value_digest(json.loads(main.read_text()))), "production": None}
