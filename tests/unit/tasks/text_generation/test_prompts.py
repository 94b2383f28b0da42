"""The prompt set file: items read and checked, every problem named by file:line in one DataCheckError (exit 3),
a missing file named by evaluate.prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci.errors import DataCheckError, OperationalError
from ml_ci.tasks.text_generation import prompts

SOURCE = "eval/prompts.jsonl"


def lines(*items: Any) -> str:
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)


def test_items_are_read_with_their_defaults() -> None:
    text = lines(
        {
            "id": "fr",
            "prompt": "The capital of France is",
            "tags": ["facts", "geo"],
            "reference": "Paris",
            "max_new_tokens": 8,
            "assert": [{"type": "icontains", "value": "paris"}, {"type": "not-contains", "value": "London"}],
        },
        "",
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]},
    )
    first, second = prompts.parse(text, SOURCE)
    assert (first.id, first.line, first.tags, first.reference, first.max_new_tokens) == ("fr", 1, ("facts", "geo"), "Paris", 8)
    assert [a.type for a in first.asserts] == ["icontains", "not-contains"]
    assert first.record == {"prompt": "The capital of France is"} and first.text == "The capital of France is"
    # An item without an id is named by its line (the blank line 2 is skipped, and counted).
    assert (second.id, second.line, second.prompt, second.asserts) == ("3", 3, None, ())
    assert second.record == {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]}
    assert second.text == "2+2?"  # the user turns: what is asked, as the data half's texts say it


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "a"', "eval/prompts.jsonl:2: not JSON: Expecting ',' delimiter (column 15)"),
        ('["a"]', "eval/prompts.jsonl:2: an item is a JSON object, not list"),
        (
            {"prompt": "a", "assert": [{"type": "containz", "value": "x"}]},
            "eval/prompts.jsonl:2: assert[0]: unknown assertion type 'containz'",
        ),
        (
            {"prompt": "a", "assert": [{"type": "regex", "value": "[a-"}]},
            "eval/prompts.jsonl:2: assert[0]: regex: '[a-' is not a valid regular expression: unterminated character set",
        ),
        (
            {"prompt": "a", "assert": [{"type": "is-json", "value": {"type": 5}}]},
            "eval/prompts.jsonl:2: assert[0]: the is-json value is not a valid JSON Schema",
        ),
        ({"tags": ["x"]}, "eval/prompts.jsonl:2: an item needs a `prompt` (a string) or `messages` (a chat)"),
        (
            {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
            "eval/prompts.jsonl:2: an item has `prompt` or `messages`, not both",
        ),
        ({"prompt": ""}, "eval/prompts.jsonl:2: `prompt` is a non-empty string, not ''"),
        (
            {"prompt": "a", "tags": ["has space"]},
            "eval/prompts.jsonl:2: tag 'has space' does not match ^[A-Za-z0-9_-]+$ (letters, digits, _ and -: it names a metric)",
        ),
        ({"prompt": "a", "tags": "x"}, "eval/prompts.jsonl:2: `tags` is a list of names, not 'x'"),
        ({"prompt": "a", "tag": ["x"]}, "eval/prompts.jsonl:2: unknown key 'tag'; did you mean 'tags'?"),
        ({"prompt": "a", "max_new_tokens": 0}, "eval/prompts.jsonl:2: `max_new_tokens` is an integer from 1 to 32768, not 0"),
        ({"prompt": "a", "reference": 3}, "eval/prompts.jsonl:2: `reference` is a string, not 3"),
        (
            {"messages": [{"role": "bot", "content": "x"}]},
            "eval/prompts.jsonl:2: messages[0] has role 'bot', not one of system, user, assistant",
        ),
        ({"messages": [{"role": "system", "content": "x"}]}, "eval/prompts.jsonl:2: `messages` has no user turn to answer"),
        ({"id": "one", "prompt": "b"}, "eval/prompts.jsonl:2: id 'one' is already the item of line 1"),
    ],
)
def test_each_problem_names_the_file_and_line(line: Any, message: str) -> None:
    with pytest.raises(DataCheckError) as e:
        prompts.parse(lines({"id": "one", "prompt": "fine"}, line), SOURCE)
    assert e.value.exit_code == 3
    head, problem = str(e.value).split("\n")
    assert head == "the prompt set (evaluate.prompts) has 1 problem(s):"
    assert problem.startswith(message)


def test_every_bad_line_is_named_at_once() -> None:
    text = lines({"prompt": "a", "tags": ["ok"]}, "not json", {"prompt": 1}, {"prompt": "b", "tags": ["bad tag"]})
    with pytest.raises(DataCheckError) as e:
        prompts.parse(text, SOURCE)
    assert str(e.value).splitlines() == [
        "the prompt set (evaluate.prompts) has 3 problem(s):",
        "eval/prompts.jsonl:2: not JSON: Expecting value (column 1)",
        "eval/prompts.jsonl:3: `prompt` is a non-empty string, not 1",
        "eval/prompts.jsonl:4: tag 'bad tag' does not match ^[A-Za-z0-9_-]+$ (letters, digits, _ and -: it names a metric)",
    ]


def test_an_empty_file_and_a_missing_one(tmp_path: Path) -> None:
    with pytest.raises(DataCheckError, match=r"eval/prompts\.jsonl: the prompt set \(evaluate\.prompts\) has no item"):
        prompts.parse("\n\n", SOURCE)
    with pytest.raises(OperationalError) as e:
        prompts.read(tmp_path / "nope.jsonl", SOURCE)
    assert "eval/prompts.jsonl: no such file (named by evaluate.prompts in ml.yaml" in str(e.value)


def test_the_digest_follows_the_content(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(lines({"prompt": "a"}), encoding="utf-8")
    first = prompts.digest(path)
    path.write_text(lines({"prompt": "b"}), encoding="utf-8")
    assert first.startswith("sha256:") and prompts.digest(path) != first
    assert prompts.digest(tmp_path / "gone") == "missing"
