"""text-generation's rows (records in ml-ci's column names, as training and evaluation read them), the Dataset
training reads, and what the data half tells the generic data stage (texts, strata, split keys, describe, the
check's cache inputs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from ml_ci.errors import DataCheckError
from ml_ci.tasks.text_generation import data as tg
from ml_ci.tasks.text_generation import render
from tests.unit.tasks.text_generation.test_data_checks import GOOD, chat, jsonl, pc, tg_data


def test_rows_carry_both_kinds_of_record_in_mlcis_names() -> None:
    """ml.yaml's column names (instruction/response/conversation) become prompt/completion/messages; a mixed split
    gives each row the columns of its kind and None for the others; a message's other keys are dropped."""
    data = replace(
        tg_data(slice_columns=("topic",)),
        spec=replace(tg_data().spec, prompt_column="instruction", completion_column="response", messages_column="conversation"),  # type: ignore[type-var]
    )
    table = jsonl(
        "train",
        [
            {"instruction": "Q: 1+2?", "response": " 3", "topic": "math"},
            {
                "conversation": [{"role": "user", "content": "hi", "name": "x"}, {"role": "assistant", "content": "Hello"}],
                "topic": 7,
            },
        ],
    )
    assert tg.rows(table, data) == {
        "prompt": ["Q: 1+2?", None],
        "completion": [" 3", None],
        "messages": [None, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]],
        "topic": ["math", "7"],
    }


def test_as_records_gives_back_what_render_reads() -> None:
    records = tg.as_records(tg.rows(jsonl("train", GOOD), tg_data()))
    assert records[0] == {"prompt": "Q: what is 1 plus 2? A:", "completion": " 3"}
    assert records[1] == GOOD[1]
    assert [render.is_chat(r) for r in records] == [False, True, True]


def test_to_dataset_keeps_the_three_columns_and_the_slices() -> None:
    dataset = tg.to_dataset(jsonl("train", [*GOOD[:2], {**pc("a", "b"), "topic": "x"}]), tg_data(slice_columns=("topic",)))
    assert dataset.column_names == ["prompt", "completion", "messages", "topic"]
    assert dataset[1]["messages"] == GOOD[1]["messages"]
    assert (dataset[0]["messages"], dataset[1]["prompt"], dataset[2]["topic"]) == (None, None, "x")
    assert tg.as_records(dataset.to_dict()) == tg.as_records(tg.rows(jsonl("train", [*GOOD[:2], pc("a", "b")]), tg_data()))


def test_rows_refuse_records_training_cannot_use_naming_them() -> None:
    table = jsonl("train", [GOOD[0], {"prompt": "a"}, chat(("user", "u"), ("user", "v"), ("assistant", "a"))])
    with pytest.raises(DataCheckError) as e:
        tg.rows(table, tg_data())
    assert str(e.value) == (
        "train.jsonl: cannot use 2 records: train.jsonl:2 (no 'completion'); train.jsonl:3 messages[1] (user after user: "
        "expected assistant). Run `ml-ci data check` for the full report"
    )


def test_rows_keep_empty_completions() -> None:
    """An empty completion is a warnable check: the model learns to answer with eos alone."""
    assert tg.rows(jsonl("train", [pc("Q", "")]), tg_data())["completion"] == [""]


def test_rows_of_a_split_without_records_columns_or_records() -> None:
    with pytest.raises(DataCheckError, match=r"^train.jsonl: no column 'prompt', 'completion', 'messages' \(columns: text\)"):
        tg.rows(jsonl("train", [{"text": "a"}]), tg_data())
    with pytest.raises(DataCheckError, match=r"^train.jsonl: no column 'topic'"):
        tg.rows(jsonl("train", [pc("a", "b")]), tg_data(slice_columns=("topic",)))
    empty = replace(jsonl("train", []), columns={"prompt": [], "completion": []})
    with pytest.raises(DataCheckError, match=r"^train.jsonl: the split has no records$"):
        tg.rows(empty, tg_data())


def test_a_slice_column_named_as_a_record_column_is_refused() -> None:
    with pytest.raises(DataCheckError, match="slice column 'messages' clashes"):
        tg.rows(jsonl("train", [GOOD[1]]), tg_data(slice_columns=("messages",)))


def test_strata_are_the_kind_and_describe_counts_each() -> None:
    table = jsonl("train", [*GOOD, {"prompt": 1, "completion": "x"}, chat(("assistant", "a"))])
    assert tg.strata(table, tg_data()) == [0, 1, 1, None, None]
    assert tg.describe(table, tg_data()) == {"records": {"prompt_completion": 1, "chat": 3}}
    assert tg.split_keys(tg_data()) == ("prompt", "completion", "messages")
    assert tg.columns(tg_data()) == ()


def test_check_inputs_name_the_tokenizer_and_max_length(tmp_path: Path) -> None:
    """What the template and truncation checks read besides the data: a changed tokenizer file re-runs them."""
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "tokenizer.json").write_text("{}", encoding="utf-8")
    spec = replace(tg_data().spec, base="base")  # type: ignore[type-var]
    config = SimpleNamespace(spec=spec, root=tmp_path, model=SimpleNamespace(revision=None))
    first = tg.check_inputs(config)  # type: ignore[arg-type]
    assert first["model"] == {"base": "base", "revision": None, "max_length": 256}
    assert str(first["tokenizer"]).startswith("sha256:")
    (tmp_path / "base" / "tokenizer_config.json").write_text('{"chat_template": "x"}', encoding="utf-8")
    assert tg.check_inputs(config)["tokenizer"] != first["tokenizer"]  # type: ignore[arg-type]
