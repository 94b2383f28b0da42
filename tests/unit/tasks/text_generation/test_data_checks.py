"""text-generation's data checks on toy tables: each failure with its place (the JSON Lines line, and a chat's
message by its index), the list of checks and which can warn (the task's schema branch)."""

from __future__ import annotations

import runpy
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config.by_task import effective
from ml_ci.config.model import Data, Drift
from ml_ci.data import checks as generic
from ml_ci.data.checks import Outcome
from ml_ci.data.table import Table
from ml_ci.resources import schema
from ml_ci.tasks.text_generation import data as tg
from ml_ci.tasks.text_generation import data_tokenizer
from ml_ci.tasks.text_generation.config import Adapter, Generation, TextGenerationSpec
from tests.lm import MAKE_BASE
from tests.unit.data.toy import data_config


def tg_data(
    *,
    base: str = "model",
    max_length: int = 256,
    chat_template: str | None = None,
    max_truncated_fraction: float = 0.0,
    slice_columns: tuple[str, ...] = (),
    **checks: Any,
) -> Data:
    """A data section with the schema's defaults (text-classification's toy one, given this task's view)."""
    return replace(
        data_config(slice_columns=slice_columns, **checks),
        train="train.jsonl",
        validation=None,
        spec=TextGenerationSpec(
            prompt_column="prompt",
            completion_column="completion",
            messages_column="messages",
            chat_template=chat_template,
            max_truncated_fraction=max_truncated_fraction,
            adapter=Adapter(type="lora", rank=8, alpha=16, dropout=0.05, target_modules="all-linear", quantize_base="none"),
            packing=False,
            gradient_checkpointing=False,
            prompts=None,
            generation=Generation(max_new_tokens=8, temperature=0.0, top_p=1.0, seed=0, stop=()),
            base=base,
            max_length=max_length,
        ),
    )


def jsonl(role: str, rows: Sequence[Mapping[str, Any]], root: Path | None = None) -> Table:
    """A table as read from JSON Lines: row i on line i + 1, every column in every row (None where absent)."""
    source = f"{role}.jsonl"
    names = dict.fromkeys(k for r in rows for k in r)
    return Table(
        role=role,
        source=source,
        columns={k: [r.get(k) for r in rows] for k in names},
        locations=[f"{source}:{i + 1}" for i in range(len(rows))],
        fingerprint=f"sha256:{role}",
        root=root,
    )


def chat(*turns: tuple[str, str]) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content} for role, content in turns]}


def pc(prompt: str, completion: str) -> dict[str, Any]:
    return {"prompt": prompt, "completion": completion}


GOOD = [
    pc("Q: what is 1 plus 2? A:", " 3"),
    chat(("system", "be brief"), ("user", "what is 2 plus 2?"), ("assistant", "4")),
    chat(("user", "hi"), ("assistant", "Hello"), ("user", "what is 3 plus 3?"), ("assistant", "6")),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose `model` folder holds the tiny byte-level BPE tokenizer of make_base (with a ChatML-style
    chat template), and `plain` the same without a template."""
    root = tmp_path_factory.mktemp("repo")
    tok = runpy.run_path(str(MAKE_BASE))["tokenizer"]()
    tok.save_pretrained(root / "model")
    tok.chat_template = None
    tok.save_pretrained(root / "plain")
    (root / "plain" / "chat_template.jinja").unlink(missing_ok=True)
    data_tokenizer.load.cache_clear()
    return root


def run(name: str, tables: dict[str, Table], data: Data) -> list[Outcome]:
    check = next(c for c in tg.CHECKS if c.name == name)
    return check.run(tables, data)


def only(outcomes: list[Outcome]) -> Outcome:
    assert len(outcomes) == 1
    return outcomes[0]


def test_the_checks_in_run_order() -> None:
    assert [c.name for c in tg.CHECKS] == [
        "columns",
        "min_rows",
        "records",
        "roles",
        "empty_completions",
        "empty_texts",
        "chat_template",
        "truncation",
        "duplicates",
        "leakage",
        "drift",
    ]
    assert [c.name for c in tg.CHECKS if not c.can_warn] == ["columns", "records", "roles", "chat_template"]


def test_the_schema_offers_exactly_the_checks_that_can_warn() -> None:
    checks = effective(schema(), "text-generation")["properties"]["data"]["properties"]["checks"]
    severity = checks["properties"]["severity"]
    assert severity["propertyNames"]["enum"] == [c.name for c in tg.CHECKS if c.can_warn]
    assert severity["description"].endswith(
        "chat_template, columns, records and roles are always errors: training cannot use such rows."
    )


def test_a_good_split_passes_every_check(repo: Path) -> None:
    data = tg_data(drift=Drift(method="psi", threshold=10.0))  # toy splits of other lengths
    tables = {
        "train": jsonl("train", GOOD, repo),
        "validation": jsonl("validation", [pc("Q: what is 5 plus 5? A:", " 10")], repo),
    }
    outcomes = generic.run_checks(tables, data, tg.checks(), tg.columns(data))
    assert [(o.check, o.split, o.message) for o in outcomes if not o.passed] == []
    assert {o.check for o in outcomes} == {c.name for c in tg.CHECKS}


def test_a_split_needs_prompt_and_completion_or_messages() -> None:
    tables = {
        "train": jsonl("train", [{"prompt": "a", "answer": "b"}]),
        "validation": jsonl("validation", [{"text": "a"}]),
        "test": jsonl("test", [chat(("user", "a"), ("assistant", "b"))]),
    }
    outcomes = run("columns", tables, tg_data())
    assert [o.passed for o in outcomes] == [False, False, True]
    assert outcomes[0].message == (
        "train.jsonl: no column 'completion' (columns: prompt, answer); records are 'prompt' and 'completion', or "
        "'messages': rename it in the data or set data.completion_column"
    )
    assert outcomes[1].message == (
        "validation.jsonl: no column 'prompt', 'completion', 'messages' (columns: text); records are 'prompt' and "
        "'completion', or 'messages': rename it in the data or set data.prompt_column or data.completion_column or "
        "data.messages_column"
    )
    assert outcomes[2].message == "test.jsonl: columns 'messages' present"


def test_the_checks_after_columns_skip_a_split_without_records_columns() -> None:
    tables = {"train": jsonl("train", [{"text": "a"}]), "test": jsonl("test", [pc("a", "b")])}
    assert [o.split for o in run("records", tables, tg_data())] == ["test"]
    assert [o.split for o in run("min_rows", tables, tg_data())] == ["test"]


def test_a_missing_slice_column_is_named() -> None:
    outcome = only(run("columns", {"train": jsonl("train", [pc("a", "b")])}, tg_data(slice_columns=("topic",))))
    assert not outcome.passed
    assert outcome.message.endswith("rename it in the data or set data.slice_columns")


@pytest.mark.parametrize(
    ("record", "place", "why"),
    [
        (
            {"prompt": "a", "completion": "b", "messages": []},
            "train.jsonl:2",
            "both 'prompt'/'completion' and 'messages': a record is one or the other",
        ),
        ({"id": 3}, "train.jsonl:2", "neither 'prompt' and 'completion' nor 'messages'"),
        ({"prompt": "a"}, "train.jsonl:2", "no 'completion'"),
        ({"prompt": 1, "completion": "b"}, "train.jsonl:2", "'prompt' is int, not text"),
        ({"messages": "hi"}, "train.jsonl:2", "'messages' is str, not a list of {role, content} messages"),
        ({"messages": []}, "train.jsonl:2", "'messages' is an empty list"),
        ({"messages": ["hi"]}, "train.jsonl:2 messages[0]", "a str, not a {role, content} object"),
        ({"messages": [{"role": "user"}]}, "train.jsonl:2 messages[0]", "no 'content'"),
        ({"messages": [{"content": "x"}]}, "train.jsonl:2 messages[0]", "no 'role'"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": 4}]},
            "train.jsonl:2 messages[1]",
            "'content' is int, not text",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "4"}]},
            "train.jsonl:2 messages[1]",
            "role 'tool' is not one of system, user, assistant",
        ),
    ],
)
def test_a_malformed_record_is_named_at_its_line(record: dict[str, Any], place: str, why: str) -> None:
    table = jsonl("train", [pc("Q", "A"), record])
    outcome = only(run("records", {"train": table}, tg_data()))
    assert (outcome.passed, outcome.value, outcome.rows) == (False, 1, ("train.jsonl:2",))
    assert outcome.message == (
        "train.jsonl: 1 malformed record (a record is a prompt and completion, 'prompt' and 'completion' as text, or a "
        "chat, 'messages' as a list of {role, content} messages whose role is system, user or assistant)"
        f": {place} ({why})"
    )


@pytest.mark.parametrize(
    ("turns", "place", "why"),
    [
        ((("system", "s"),), "messages[0]", "only a system message: a chat needs a user turn and the assistant's answer"),
        ((("assistant", "a"), ("user", "u")), "messages[0]", "assistant first: expected user"),
        ((("user", "u"), ("user", "v"), ("assistant", "a")), "messages[1]", "user after user: expected assistant"),
        (
            (("user", "u"), ("system", "s"), ("assistant", "a")),
            "messages[1]",
            "system after user: a system message comes first, once",
        ),
        (
            (("user", "u"), ("assistant", "a"), ("user", "v")),
            "messages[2]",
            "the chat ends with a user turn: it must end with the assistant's",
        ),
    ],
)
def test_roles_out_of_order_are_named_at_the_message(turns: tuple[tuple[str, str], ...], place: str, why: str) -> None:
    table = jsonl("train", [GOOD[1], chat(*turns)])
    outcome = only(run("roles", {"train": table}, tg_data()))
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:2",))
    assert outcome.message == (
        "train.jsonl: 1 chat whose roles are out of order (a system message may come first, then user and assistant "
        f"take turns, and the assistant's ends the chat): train.jsonl:2 {place} ({why})"
    )


def test_empty_completions_and_assistant_turns_are_counted_and_can_warn() -> None:
    table = jsonl("train", [pc("Q", " "), GOOD[1], chat(("user", "u"), ("assistant", ""), ("user", "v"), ("assistant", "b"))])
    outcome = only(run("empty_completions", {"train": table}, tg_data()))
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:1", "train.jsonl:3"))
    assert outcome.message == (
        "train.jsonl: 2 of 3 records (66.7%) have an empty completion or assistant turn, above max_empty_fraction 0.0; "
        "first: train.jsonl:1, train.jsonl:3"
    )
    assert only(run("empty_completions", {"train": table}, tg_data(max_empty_fraction=0.7))).passed
    assert next(c for c in tg.CHECKS if c.name == "empty_completions").can_warn


def test_texts_are_the_prompts_and_a_chats_user_turns() -> None:
    table = jsonl("train", [*GOOD, {"id": 1}])
    assert tg.texts(table, tg_data()) == ["Q: what is 1 plus 2? A:", "what is 2 plus 2?", "hi\nwhat is 3 plus 3?", None]


def test_duplicate_and_empty_prompts_and_leakage_read_the_prompt_text() -> None:
    train = jsonl("train", [pc("Q: 1?", " a"), chat(("user", "Q: 1?"), ("assistant", "b")), pc(" ", "c")])
    test = jsonl("test", [pc("q:  1?", " z")])
    dup = only(run("duplicates", {"train": train}, tg_data()))
    assert (dup.passed, dup.rows) == (False, ("train.jsonl:2",))
    empty = only(run("empty_texts", {"train": train}, tg_data()))
    assert (empty.passed, empty.rows) == (False, ("train.jsonl:3",))
    leak = only(run("leakage", {"train": train, "test": test}, tg_data()))
    assert (leak.passed, leak.message) == (
        False,
        "test.jsonl: 1 text also in train.jsonl (after normalization): test.jsonl:1 = train.jsonl:1",
    )


def test_chat_records_without_a_template_are_named(repo: Path) -> None:
    table = jsonl("train", GOOD, repo)
    outcome = only(run("chat_template", {"train": table}, tg_data(base="plain")))
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:2", "train.jsonl:3"))
    assert outcome.message == (
        "train.jsonl: 2 chat records but no chat template: data.chat_template is not set and model.base 'plain''s "
        "tokenizer has none; set data.chat_template (a Jinja template), or write the records as prompt and completion: "
        "train.jsonl:2, train.jsonl:3"
    )
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    assert only(run("chat_template", {"train": table}, tg_data(base="plain", chat_template=template))).passed
    assert only(run("chat_template", {"train": table}, tg_data(base="model"))).passed
    prompts_only = only(run("chat_template", {"train": jsonl("train", GOOD[:1], repo)}, tg_data(base="plain")))
    assert (prompts_only.passed, prompts_only.message) == (True, "train.jsonl: no chat records")


def test_a_template_that_cannot_render_a_chat_is_named(repo: Path) -> None:
    """A template that drops earlier turns (as some reasoning models' do) cannot be rendered turn by turn."""
    last_only = "{{ messages[-1]['content'] }}{% if add_generation_prompt %}>{% endif %}"
    table = jsonl("train", GOOD, repo)
    outcome = only(run("chat_template", {"train": table}, tg_data(chat_template=last_only)))
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:2", "train.jsonl:3"))
    assert outcome.message.startswith(
        "train.jsonl: data.chat_template cannot render 2 chat records: train.jsonl:2 (the chat template does not render "
        "the conversation incrementally"
    )


def test_truncation_counts_records_and_the_tokens_cut(repo: Path) -> None:
    """The byte-level tokenizer of make_base: the prompt/completion record renders as prompt + completion + eos."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(repo / "model"))
    short, long = pc("Q: 1?", " a"), pc("Q: what is 12 plus 13? A:", " The quick brown fox jumps over the lazy dog.")
    n_long = len(tok(long["prompt"] + long["completion"] + tok.eos_token)["input_ids"])
    n_prompt = len(tok(long["prompt"])["input_ids"])
    n_short = len(tok(short["prompt"] + short["completion"] + tok.eos_token)["input_ids"])
    assert n_short < n_prompt < n_long
    table = jsonl("train", [short, long], repo)
    outcome = only(run("truncation", {"train": table}, tg_data(max_length=n_prompt)))
    cut = n_long - n_prompt
    assert (outcome.passed, outcome.rows) == (False, ("train.jsonl:2",))
    assert outcome.details == {"measured": True, "records": 1, "tokens_cut": cut, "completion_tokens_cut": cut, "longest": n_long}
    assert outcome.message == (
        f"train.jsonl: 1 of 2 records (50.0%) longer than model.max_length {n_prompt} tokens once templated (longest "
        f"{n_long}); {cut} tokens would be cut, {cut} of them completion tokens, above max_truncated_fraction 0.0: raise "
        f"model.max_length or shorten them; first: train.jsonl:2 ({n_long} tokens, {cut} completion tokens cut)"
    )
    assert only(run("truncation", {"train": table}, tg_data(max_length=n_long))).passed
    assert only(run("truncation", {"train": table}, tg_data(max_length=n_prompt, max_truncated_fraction=0.5))).passed


def test_truncation_measures_chats_with_their_template(repo: Path) -> None:
    """The ChatML template adds its markers: a chat of a few characters is longer than their tokens."""
    table = jsonl("train", [chat(("user", "hi"), ("assistant", "Hello"))], repo)
    outcome = only(run("truncation", {"train": table}, tg_data(max_length=4)))
    assert not outcome.passed
    assert outcome.details["longest"] > 10 and outcome.details["completion_tokens_cut"] > 0


def test_without_a_tokenizer_the_template_and_truncation_checks_say_they_were_not_measured(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    table = jsonl("train", GOOD, tmp_path)
    data_tokenizer.load.cache_clear()
    for name in ("truncation", "chat_template"):
        outcome = only(run(name, {"train": table}, tg_data(base="./model")))
        assert (outcome.passed, outcome.details) == (True, {"measured": False})
        assert outcome.message == "train.jsonl: not measured: './model' has no tokenizer.json (a fast tokenizer's file)"
    offline = only(run("truncation", {"train": table}, tg_data(base="org/not-cached-model")))
    assert offline.passed and offline.message.startswith(
        "train.jsonl: not measured: cannot read the tokenizer of 'org/not-cached-model': "
    )
    data_tokenizer.load.cache_clear()


def test_the_tokenizer_identity_covers_the_template(repo: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(repo / "model", tmp_path / "model")
    before = data_tokenizer.identity("model", tmp_path)
    assert before is not None and before.startswith("sha256:")
    template = next(
        p
        for p in (tmp_path / "model").iterdir()
        if p.name in ("chat_template.jinja", "tokenizer_config.json") and "im_start" in p.read_text()
    )
    template.write_text(template.read_text().replace("im_start", "im_begin"))
    assert data_tokenizer.identity("model", tmp_path) not in (None, before)
    assert data_tokenizer.identity("org/hub-model", tmp_path) is None
