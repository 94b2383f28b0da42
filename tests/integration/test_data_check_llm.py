"""`ml-ci data check` as a real process on a small text-generation repository (the tiny Llama of tests/lm.py, its
byte-level tokenizer and ChatML-style chat template; JSON Lines splits mixing prompt/completion records and chats):
the clean one passes; each kind of bad record exits 3 naming the file and line (and a chat's message).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_data_check_ner import ml_ci  # `ml-ci data check --no-cache` on a repository
from tests.lm import tiny_lm

pytestmark = pytest.mark.integration

REPORT = Path(".ml-ci/artifacts/data-check/report.json")
CHECKS = {"min_rows": 5, "max_duplicate_fraction": 0.0, "leakage": True, "drift": {"method": "psi", "threshold": 5.0}}


def record(i: int) -> dict[str, Any]:
    """Record i: a prompt and completion for even i, a chat (with a system message every fourth) for odd i; its
    numbers unique to i, so that no two prompts repeat."""
    a, b = divmod(i, 100)
    if i % 2 == 0:
        return {"prompt": f"Q: what is {a} plus {b}? A:", "completion": f" {a + b}"}
    system = [{"role": "system", "content": "answer as JSON"}] if i % 4 == 1 else []
    return {
        "messages": [
            *system,
            {"role": "user", "content": f"what is {a} times {b}?"},
            {"role": "assistant", "content": f'{{"result": {a * b}}}'},
        ]
    }


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_lm(tmp_path_factory.mktemp("lm"))


def make_repo(tmp_path: Path, base: Path, checks: dict[str, Any] | None = None, **model: Any) -> Path:
    repo = tmp_path / "assistant"
    (repo / "data").mkdir(parents=True)
    shutil.copytree(base, repo / "base-model")
    config = {
        "version": 1,
        "name": "assistant",
        "task": "text-generation",
        "data": {
            "train": "data/train.jsonl",
            "validation": "data/validation.jsonl",
            "test": "data/test.jsonl",
            "checks": {**CHECKS, **(checks or {})},
        },
        "model": {"base": "base-model", "max_length": 64, **model},
        "evaluate": {"metrics": ["loss", "perplexity"], "allow_missing_baseline": True},
    }
    (repo / "ml.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for offset, split in enumerate(("train", "validation", "test")):
        write_jsonl(repo / "data" / f"{split}.jsonl", [record(1000 * offset + 100 + i) for i in range(12)])
    return repo


def edit(repo: Path, split: str, line: int, value: dict[str, Any]) -> None:
    """Replace the record on `line` (1-based) of a split."""
    path = repo / "data" / f"{split}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = json.dumps(value)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def failed(repo: Path) -> dict[str, list[dict[str, Any]]]:
    report = json.loads((repo / REPORT).read_text(encoding="utf-8"))
    out: dict[str, list[dict[str, Any]]] = {}
    for c in report["checks"]:
        if not c["passed"]:
            out.setdefault(c["check"], []).append(c)
    return out


def test_a_clean_repository_passes(tmp_path: Path, base: Path) -> None:
    repo = make_repo(tmp_path, base)
    result = ml_ci(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((repo / REPORT).read_text(encoding="utf-8"))
    assert report["splits"]["train"]["records"] == {"prompt_completion": 6, "chat": 6}
    truncation = next(c for c in report["checks"] if c["check"] == "truncation" and c["split"] == "train")
    assert truncation["details"]["measured"] is True and 10 < truncation["details"]["longest"] <= 64


@pytest.mark.parametrize(
    ("split", "line", "value", "check", "place"),
    [
        ("train", 3, {"prompt": "Q: what is 1 plus 1? A:"}, "records", "data/train.jsonl:3 (no 'completion')"),
        (
            "validation",
            2,
            {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "Hello"}]},
            "records",
            "data/validation.jsonl:2 messages[1] (role 'bot' is not one of system, user, assistant)",
        ),
        (
            "train",
            4,
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "a"},
                    {"role": "user", "content": "b"},
                ]
            },
            "roles",
            "data/train.jsonl:4 messages[2] (the chat ends with a user turn: it must end with the assistant's)",
        ),
        ("test", 5, {"prompt": "Q: what is nothing? A:", "completion": ""}, "empty_completions", "data/test.jsonl:5"),
        ("train", 6, record(100), "duplicates", "data/train.jsonl:6 repeats data/train.jsonl:1"),
        ("test", 1, record(100), "leakage", "data/test.jsonl:1 = data/train.jsonl:1"),
    ],
)
def test_bad_records_exit_3_naming_the_line(
    tmp_path: Path, base: Path, split: str, line: int, value: dict[str, Any], check: str, place: str
) -> None:
    repo = make_repo(tmp_path, base)
    edit(repo, split, line, value)
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    found = failed(repo)
    assert list(found) == [check]
    assert place in found[check][0]["message"]
    assert place in result.stderr
    assert found[check][0]["rows"][0] == place.split(" ")[0]


def test_chat_records_without_a_template_exit_3(tmp_path: Path, base: Path) -> None:
    repo = make_repo(tmp_path, base)
    folder = repo / "base-model"
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    found = failed(repo)
    assert list(found) == ["chat_template"]
    assert found["chat_template"][0]["message"].startswith(
        "data/train.jsonl: 6 chat records but no chat template: data.chat_template is not set and model.base "
        "'base-model''s tokenizer has none"
    )
    assert found["chat_template"][0]["rows"][0] == "data/train.jsonl:2"


def test_records_longer_than_max_length_exit_3_unless_truncation_warns(tmp_path: Path, base: Path) -> None:
    repo = make_repo(tmp_path, base)
    edit(
        repo, "train", 7, {"prompt": "Q: what is 7 plus 7? A:", "completion": " The quick brown fox jumps over the lazy dog." * 4}
    )
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    found = failed(repo)
    assert list(found) == ["truncation"]
    message = found["truncation"][0]["message"]
    assert message.startswith("data/train.jsonl: 1 of 12 records (8.3%) longer than model.max_length 64 tokens once templated")
    assert "first: data/train.jsonl:7 (" in message
    details = found["truncation"][0]["details"]
    assert details["tokens_cut"] == details["longest"] - 64 > 0
    assert details["completion_tokens_cut"] == details["tokens_cut"]  # the prompt fits: only the completion's end is cut

    warned = make_repo(tmp_path / "warned", base, checks={"severity": {"truncation": "warn"}})
    edit(
        warned,
        "train",
        7,
        {"prompt": "Q: what is 7 plus 7? A:", "completion": " The quick brown fox jumps over the lazy dog." * 4},
    )
    result = ml_ci(warned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert failed(warned)["truncation"][0]["severity"] == "warn"


def test_a_split_without_records_columns_exits_3(tmp_path: Path, base: Path) -> None:
    repo = make_repo(tmp_path, base)
    write_jsonl(repo / "data" / "test.jsonl", [{"instruction": f"q{i}", "response": "a"} for i in range(12)])
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    found = failed(repo)
    assert list(found) == ["columns"]
    assert found["columns"][0]["message"] == (
        "data/test.jsonl: no column 'prompt', 'completion', 'messages' (columns: instruction, response); records are "
        "'prompt' and 'completion', or 'messages': rename it in the data or set data.prompt_column or "
        "data.completion_column or data.messages_column"
    )
