"""`ml-ci data check` as a real process on a small NER repository (examples/ner/ml.yaml with small CoNLL files and
thresholds for them): the clean one passes; each kind of bad NER data exits 3 naming the file and line (or row
and word), and the bundled example passes its own checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REPORT = Path(".ml-ci/artifacts/data-check/report.json")
# Thresholds for splits of 30 sentences; the rest of the example's ml.yaml as it is.
CHECKS = {
    "min_rows": 10,
    "min_entities_per_type": 1,
    "max_type_imbalance": 5.0,
    "max_truncated_fraction": 0.0,
    "max_duplicate_fraction": 0.0,
    "leakage": True,
    "drift": {"method": "psi", "threshold": 5.0},
}


def ml_ci(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", "data", "check", "-c", str(repo), "--no-cache"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )


def sentence(i: int) -> list[tuple[str, str]]:
    """A sentence of every entity type, its words unique to i (so no two sentences repeat), of one length."""
    n = f"{i:04d}"
    return [
        (f"Anna{n}", "B-PER"),
        (f"Berg{n}", "I-PER"),
        ("visited", "O"),
        (f"Oslo{n}", "B-LOC"),
        ("for", "O"),
        (f"Acme{n}", "B-ORG"),
        (f"Cup{n}", "B-MISC"),
        (".", "O"),
    ]


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> None:
    path.write_text("-DOCSTART- O\n\n" + "".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sentences), "utf-8")


def line_of(sentence_index: int, word: int) -> int:
    """The line of a word in write_conll's file: -DOCSTART- and a blank line, then 9 lines a sentence."""
    return 3 + 9 * sentence_index + word


def make_repo(tmp_path: Path, checks: dict[str, Any] | None = None, **data: Any) -> Path:
    repo = tmp_path / "ner"
    (repo / "data").mkdir(parents=True)
    config = yaml.safe_load((ROOT / "examples/ner/ml.yaml").read_text(encoding="utf-8"))
    # The example's own dependencies (ci.requirements) are for its workflows' locks, a file this copy does not carry.
    config["ci"].pop("requirements", None)
    config["data"]["checks"] = {**CHECKS, **(checks or {})}
    config["data"].update(data)
    (repo / "ml.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for offset, split in enumerate(("train", "validation", "test")):
        write_conll(repo / "data" / f"{split}.conll", [sentence(1000 * offset + i) for i in range(30)])
    return repo


Change = Callable[[Path], None]


def edit(split: str, change: Callable[[list[list[tuple[str, str]]]], list[list[tuple[str, str]]]]) -> Change:
    """Rewrite data/<split>.conll's sentences through change."""

    def apply(repo: Path) -> None:
        offset = ("train", "validation", "test").index(split)
        write_conll(repo / "data" / f"{split}.conll", change([sentence(1000 * offset + i) for i in range(30)]))

    return apply


def retag(i: int, word: int, tag: str) -> Callable[[list[list[tuple[str, str]]]], list[list[tuple[str, str]]]]:
    def change(sentences: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
        sentences[i][word] = (sentences[i][word][0], tag)
        return sentences

    return change


def jsonl(split: str, rows: list[dict[str, Any]]) -> Change:
    """data/<split>.jsonl with these rows, and ml.yaml pointing at it."""

    def apply(repo: Path) -> None:
        (repo / "data" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        config = yaml.safe_load((repo / "ml.yaml").read_text(encoding="utf-8"))
        config["data"][split] = f"data/{split}.jsonl"
        (repo / "ml.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    return apply


def rows_of(offset: int) -> list[dict[str, Any]]:
    return [{"tokens": [w for w, _ in s], "tags": [t for _, t in s]} for s in (sentence(offset + i) for i in range(30))]


def _with(rows: list[dict[str, Any]], i: int, **row: Any) -> list[dict[str, Any]]:
    rows[i] = {**rows[i], **row}
    return rows


def _append_file(split: str, text: str) -> Change:
    def apply(repo: Path) -> None:
        with (repo / "data" / f"{split}.conll").open("a", encoding="utf-8") as f:
            f.write(text)

    return apply


# (id, data.checks overrides, change to the data, what the error names)
FAILING: list[tuple[str, dict[str, Any], Change, str]] = [
    (
        "a line without a tag",
        {},
        _append_file("train", "Anna B-PER\nvisited\n"),
        f"data/train.conll:{line_of(30, 1)}: one field ('visited'); a CoNLL line is a word and its tag",
    ),
    (
        "an unknown tag",
        {},
        edit("train", retag(2, 3, "S-LOC")),
        f"tags: data/train.conll: 1 tag outside data.scheme IOB2's tags of data.entity_types (O, B-PER, I-PER, B-LOC, "
        f"I-LOC, B-ORG, I-ORG, B-MISC, I-MISC, or their indices 0-8): data/train.conll:{line_of(2, 3)} ('S-LOC': S- is a "
        "BIOES prefix; data.scheme is IOB2)",
    ),
    (
        "a type not in entity_types",
        {},
        edit("validation", retag(4, 6, "B-DATE")),
        f"data/validation.conll:{line_of(4, 6)} ('B-DATE': type 'DATE' is not one of data.entity_types",
    ),
    (
        "I-X after O",
        {},
        edit("test", retag(7, 5, "I-ORG")),
        f"transitions: data/test.conll: 1 tag that the IOB2 scheme does not allow there (strict scoring reads them as "
        f"other entities than meant): data/test.conll:{line_of(7, 5)} (I-ORG after O: an entity begins with B-ORG)",
    ),
    (
        "I-X after B-Y",
        {},
        edit("train", retag(0, 1, "I-LOC")),
        f"data/train.conll:{line_of(0, 1)} (I-LOC after B-PER: an entity begins with B-LOC)",
    ),
    (
        "words and tags of different lengths",
        {},
        jsonl("train", _with(rows_of(0), 3, tags=["B-PER", "I-PER", "O"])),
        "tag_count: data/train.jsonl: 1 sentence whose 'tags' and 'tokens' differ in length: data/train.jsonl:4 "
        "(8 words, 3 tags)",
    ),
    (
        "a word holding a space",
        {},
        jsonl("train", _with(rows_of(0), 2, tokens=["Anna2 Berg2", "x", "visited", "Oslo2", "for", "Acme2", "Cup2", "."])),
        "words: data/train.jsonl: 1 word empty or holding whitespace (ml-ci joins a sentence's words with single spaces "
        "and splits them back: split such a word in two, or drop it): data/train.jsonl:3 tokens[0] ('Anna2 Berg2' "
        "contains whitespace)",
    ),
    (
        "an empty sentence",
        {},
        jsonl("validation", [*rows_of(1000), {"tokens": [], "tags": []}]),
        "empty_sentences: data/validation.jsonl: 1 of 31 sentences (3.2%) have no word, above max_empty_fraction 0.0; "
        "first: data/validation.jsonl:31",
    ),
    (
        "a sentence longer than max_length subwords",
        {},
        edit("test", lambda s: [*s[:29], [(f"word{k}", "O") for k in range(200)]]),
        "truncation: data/test.conll: 1 of 30 sentences (3.3%) longer than model.max_length 128 subwords",
    ),
    (
        "too few entities of a type",
        {"min_entities_per_type": 31},
        edit("train", lambda s: s),
        "min_entities_per_type: data/train.conll: type 'PER' has 30 entities, type 'LOC' has 30 entities, type 'ORG' "
        "has 30 entities, type 'MISC' has 30 entities, fewer than min_entities_per_type 31",
    ),
    (
        "unbalanced types",
        {},
        edit("train", lambda s: [[(w, "O" if t == "B-MISC" and i else t) for w, t in x] for i, x in enumerate(s)]),
        "type_balance: data/train.conll: most frequent type 'PER' has 30 entities, least frequent 'MISC' 1: ratio 30.00, "
        "above max_type_imbalance 5.0",
    ),
    (
        "a repeated sentence",
        {},
        edit("train", lambda s: [*s, s[5]]),
        f"duplicates: data/train.conll: 1 of 31 rows (3.2%) repeat an earlier text after normalization (1 exact), above "
        f"max_duplicate_fraction 0.0; first: data/train.conll:{line_of(30, 0)} repeats data/train.conll:{line_of(5, 0)}",
    ),
    (
        "a training sentence in test",
        {},
        edit("test", lambda s: [*s[:29], sentence(9)]),
        f"leakage: data/test.conll: 1 text also in data/train.conll (after normalization): data/test.conll:"
        f"{line_of(29, 0)} = data/train.conll:{line_of(9, 0)}",
    ),
    (
        "entity types drifted",
        {"drift": {"method": "psi", "threshold": 0.2}},
        edit("test", lambda s: [[(w, "O" if t in ("B-LOC", "B-ORG", "B-MISC") else t) for w, t in x] for x in s]),
        "drift: data/test.conll: the entity type distribution drifted from data/train.conll: entity type PSI",
    ),
]


def test_a_clean_ner_repository_passes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    result = ml_ci(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((repo / REPORT).read_text(encoding="utf-8"))
    assert report["splits"]["train"]["entities"] == {"PER": 30, "LOC": 30, "ORG": 30, "MISC": 30}
    truncation = next(c for c in report["checks"] if c["check"] == "truncation")
    assert truncation["details"]["measured"] is True  # the example's base model's tokenizer was read
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("overrides", "change", "expected"), [f[1:] for f in FAILING], ids=[f[0] for f in FAILING])
def test_bad_ner_data_exits_3_naming_the_place(tmp_path: Path, overrides: dict[str, Any], change: Change, expected: str) -> None:
    repo = make_repo(tmp_path, overrides)
    change(repo)
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def span_rows(offset: int) -> list[dict[str, Any]]:
    """Texts with a character span of each entity type (data.spans_column), words unique to each."""
    out = []
    for i in range(offset, offset + 30):
        text = f"Anna{i} Berg{i} visited Oslo{i} for Acme{i} Cup{i} ."
        spans = [
            {"start": text.index(name), "end": text.index(name) + len(name), "type": kind}
            for name, kind in ((f"Anna{i} Berg{i}", "PER"), (f"Oslo{i}", "LOC"), (f"Acme{i}", "ORG"), (f"Cup{i}", "MISC"))
        ]
        out.append({"text": text, "spans": spans})
    return out


def test_spans_that_are_not_on_word_boundaries_exit_3(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, spans_column="spans")
    for split, offset in (("validation", 1000), ("test", 2000)):
        jsonl(split, span_rows(offset))(repo)
    jsonl("train", span_rows(0))(repo)
    assert ml_ci(repo).returncode == 0  # the clean texts with spans pass
    rows = span_rows(0)
    rows[2]["spans"][0] = {"start": 0, "end": 4, "type": "PER"}
    jsonl("train", rows)(repo)
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert (
        "spans: data/train.jsonl: 1 span that cannot become tags: data/train.jsonl:3 spans[0] ([0, 4) 'Anna' does not "
        "fall on word boundaries (the words there: 'Anna2' 0-5;"
    ) in result.stderr


def test_the_ner_example_passes_its_own_checks(tmp_path: Path) -> None:
    repo = tmp_path / "ner"
    shutil.copytree(ROOT / "examples/ner", repo, ignore=shutil.ignore_patterns(".ml-ci"))
    result = ml_ci(repo)
    assert result.returncode == 0, result.stdout + result.stderr
