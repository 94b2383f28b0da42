"""`ml-ci data check` as a real process on scratch model repositories (tests/modelrepo.py).

The scratch repository passes every check; each variant below breaks one thing and must fail with
its exit code and message, without a traceback and without a half-written report.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.modelrepo import make_model_repo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REPORT = Path(".ml-ci/artifacts/data-check/report.json")


def ml_ci(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", "data", "check", "-c", str(repo), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def edit(name: str, change: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[Path], None]:
    """Rewrite data/<name>.csv (header included) through change."""

    def apply(repo: Path) -> None:
        path = repo / "data" / f"{name}.csv"
        write_rows(path, change(read_rows(path)))

    return apply


def test_a_clean_repository_passes_and_reports(tmp_path: Path) -> None:
    repo = make_model_repo(tmp_path).parent
    out = tmp_path / "github_output"
    result = ml_ci(repo, env={"GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    assert result.returncode == 0, result.stderr
    report = json.loads((repo / REPORT).read_text())
    assert report["passed"] is True
    assert {c["check"] for c in report["checks"]} == {
        "columns",
        "min_rows",
        "null_fraction",
        "empty_texts",
        "labels",
        "duplicates",
        "text_length",
        "min_rows_per_class",
        "class_balance",
        "leakage",
        "drift",
    }
    assert [line for line in out.read_text().splitlines() if not line.startswith("cache-key=")] == [
        f"fingerprint={report['fingerprint']}",
        "cache-hit=false",
    ]
    assert (tmp_path / "summary.md").read_text().startswith("## Data check: ✅ all 28 checks passed")
    assert result.stdout.splitlines()[-1] == f"data check: all 28 checks passed ({report['fingerprint']})"


def test_the_example_passes_its_own_checks(tmp_path: Path) -> None:
    repo = tmp_path / "sentiment"
    shutil.copytree(ROOT / "examples/sentiment", repo, ignore=shutil.ignore_patterns(".ml-ci"))
    result = ml_ci(repo)
    assert result.returncode == 0, result.stdout + result.stderr


# (id, ml.yaml data.checks overrides, change to the data, the line expected in the error)
FAILING: list[tuple[str, dict[str, Any], Callable[[Path], None] | None, str]] = [
    (
        "columns",
        {},
        edit("validation", lambda rows: [["sentence", "label"], *rows[1:]]),
        "columns: data/validation.csv: no column 'text' (columns: sentence, label); "
        "rename it in the data or set data.text_column",
    ),
    ("min_rows", {"min_rows": 50}, None, "min_rows: data/validation.csv: 40 rows, fewer than min_rows 50"),
    ("empty_split", {}, edit("test", lambda rows: rows[:1]), "min_rows: data/test.csv: the split has no rows"),
    (
        "null_fraction",
        {},
        edit("train", lambda rows: [*rows[:4], [rows[4][0], ""], *rows[5:]]),
        "null_fraction: data/train.csv: 1 of 160 rows (0.6%) miss the text or the label, above max_null_fraction 0.0; "
        "first: data/train.csv:5",
    ),
    (
        "empty_texts",
        {},
        edit("train", lambda rows: [*rows, ["   ", "positive"]]),
        "empty_texts: data/train.csv: 1 of 161 rows (0.6%) have an empty or whitespace-only text, above max_empty_fraction 0.0; "
        "first: data/train.csv:162",
    ),
    (
        "labels",
        {},
        edit("test", lambda rows: [*rows, ["a lovely new film", "neutral"]]),
        "labels: data/test.csv: 1 row with a label outside ['negative', 'positive'] (or its indices 0-1): "
        "data/test.csv:42 ('neutral')",
    ),
    (
        "duplicates",
        {"max_duplicate_fraction": 0.0},
        edit("train", lambda rows: [*rows, [rows[1][0].upper() + " !!", rows[1][1]]]),
        "duplicates: data/train.csv: 1 of 161 rows (0.6%) repeat an earlier text after normalization (0 exact), above "
        "max_duplicate_fraction 0.0; first: data/train.csv:162 repeats data/train.csv:2",
    ),
    (
        "text_length",
        {"text_length": {"min": 1, "max": 80}},
        edit("test", lambda rows: [*rows, ["x" * 81, "positive"]]),
        "text_length: data/test.csv: 1 text outside 1..80 characters: data/test.csv:42 (81 characters)",
    ),
    (
        "min_rows_per_class",
        {"min_rows_per_class": 81},
        None,
        "min_rows_per_class: data/train.csv: label 'negative' has 80 rows, label 'positive' has 80 rows, "
        "fewer than min_rows_per_class 81",
    ),
    (
        "class_balance",
        {"max_class_imbalance": 2.0, "drift": {"threshold": 1.0}},
        edit("train", lambda rows: [r for i, r in enumerate(rows) if r[1] != "negative" or i < 60]),
        "class_balance: data/train.csv: most frequent label 'positive' has 80 rows, least frequent 'negative' 29: ratio 2.76, "
        "above max_class_imbalance 2.0",
    ),
    (
        "leakage",
        {},
        lambda repo: edit("test", lambda rows: [*rows, [read_rows(repo / "data/train.csv")[2][0].title(), "positive"]])(repo),
        "leakage: data/test.csv: 1 text also in data/train.csv (after normalization): data/test.csv:42 = data/train.csv:3",
    ),
]


@pytest.mark.parametrize(("overrides", "change", "expected"), [c[1:] for c in FAILING], ids=[c[0] for c in FAILING])
def test_each_check_fails_with_exit_3_and_its_numbers(
    tmp_path: Path, overrides: dict[str, Any], change: Callable[[Path], None] | None, expected: str
) -> None:
    repo = make_model_repo(
        tmp_path, overrides={"data": {"checks": {"min_rows": 20, "min_rows_per_class": 5, **overrides}}}
    ).parent
    if change:
        change(repo)
    result = ml_ci(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"  {expected}" in result.stderr.splitlines(), result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads((repo / REPORT).read_text())["passed"] is False


def test_drift_of_text_lengths_fails(tmp_path: Path) -> None:
    repo = make_model_repo(tmp_path).parent
    edit("test", lambda rows: rows[:1] + [[r[0] + " and then some more words" * 3, r[1]] for r in rows[1:]])(repo)
    result = ml_ci(repo)
    assert result.returncode == 3
    # the PSI's value depends on the generated texts; that it is far above the threshold does not
    assert re.fullmatch(
        r"  drift: data/test\.csv: the length distribution drifted from data/train\.csv: label PSI 0\.000, "
        r"length PSI (\d+\.\d{3}) \(2 bins\), above threshold 0\.2",
        result.stderr.splitlines()[1],
    ), result.stderr


def test_github_format_annotates_the_offending_line(tmp_path: Path) -> None:
    repo = make_model_repo(tmp_path).parent
    edit("test", lambda rows: [*rows, ["a lovely new film", "neutral"]])(repo)
    result = ml_ci(repo, "--format", "github")
    assert result.returncode == 3
    assert (
        "::error file=data/test.csv,line=42,title=data check labels::data/test.csv: 1 row with a "
        "label outside ['negative', 'positive'] (or its indices 0-1): data/test.csv:42 ('neutral')"
    ) in result.stdout.splitlines()
    # one annotation per failed check, none repeated by the top-level error handler
    assert [line for line in result.stdout.splitlines() if line.startswith("::error")] == [
        line for line in result.stdout.splitlines() if line.startswith("::error file=")
    ]


def ragged(repo: Path) -> None:
    with (repo / "data/train.csv").open("a", encoding="utf-8") as f:
        f.write("good, but, unquoted,positive\n")


def latin1(repo: Path) -> None:
    (repo / "data/validation.csv").write_bytes("text,label\nok,positive\ntrès bon,positive\n".encode("latin-1"))


def huge(repo: Path) -> None:
    with (repo / "data/train.csv").open("r+b") as f:
        f.truncate(2 * 1000**3)  # sparse: no 2 GB is written


def folder(repo: Path) -> None:
    (repo / "data/validation.csv").unlink()
    (repo / "data/validation.csv").mkdir()


BAD_INPUT: list[tuple[str, Callable[[Path], None], int, str]] = [
    (
        "ragged_csv",
        ragged,
        3,
        "error: data/train.csv:162: 4 fields, but the header has 2 (text, label); quote values that contain commas",
    ),
    ("not_utf8", latin1, 3, "error: data/validation.csv:3: not valid UTF-8 (byte 0xe8 at offset 25); save the file as UTF-8"),
    (
        "two_gigabytes",
        huge,
        3,
        "error: data/train.csv: the file is 1.9 GiB, above ml-ci's cap of 1.0 GiB for a data file; not read. "
        "Put large datasets on the hub (data.hub) or sample them",
    ),
    ("unreadable", folder, 1, "error: data/validation.csv: is a folder, not a data file"),
    (
        "missing",
        lambda repo: (repo / "data/test.csv").unlink(),
        1,
        "error: data/test.csv: no such file (named by data.test in ml.yaml: fix the path there or add the file)",
    ),
]


@pytest.mark.parametrize(("change", "code", "expected"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_clearly_and_keeps_the_last_report(
    tmp_path: Path, change: Callable[[Path], None], code: int, expected: str
) -> None:
    repo = make_model_repo(tmp_path).parent
    assert ml_ci(repo).returncode == 0
    before = (repo / REPORT).read_bytes()
    change(repo)
    result = ml_ci(repo)
    assert result.returncode == code, result.stderr
    assert result.stderr.splitlines() == [expected]
    assert (repo / REPORT).read_bytes() == before
    assert sorted(p.name for p in (repo / REPORT).parents[1].iterdir()) == ["data-check"]


def test_json_lines_and_parquet_splits(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = make_model_repo(
        tmp_path, overrides={"data": {"train": "data/train.jsonl", "validation": "data/validation.parquet"}}
    ).parent
    train = read_rows(repo / "data/train.csv")[1:]
    (repo / "data/train.jsonl").write_text(
        "".join(json.dumps({"text": t, "label": int(y == "positive")}) + "\n" for t, y in train)
    )
    val = read_rows(repo / "data/validation.csv")[1:]
    pq.write_table(pa.table({"text": [t for t, _ in val], "label": [y for _, y in val]}), repo / "data/validation.parquet")
    result = ml_ci(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    sources = {role: s["source"] for role, s in json.loads((repo / REPORT).read_text())["splits"].items()}
    assert sources == {"train": "data/train.jsonl", "validation": "data/validation.parquet", "test": "data/test.csv"}


def test_modules_of_data_check_import_no_heavy_library() -> None:
    code = (
        "import sys, ml_ci.cli.data, ml_ci.data.check, ml_ci.data.fingerprint; "
        "print(sorted(m for m in ('datasets', 'pyarrow', 'scipy', 'numpy', 'pandas', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_a_hub_dataset_goes_through_datasets_load_dataset(tmp_path: Path) -> None:
    """datasets.load_dataset(id, ...) reads a local folder named like the id before asking the hub: the real call,
    offline (HF_DATASETS_OFFLINE=1), with its cache under tmp_path."""
    repo = make_model_repo(tmp_path / "repo").parent
    doc = yaml.safe_load((repo / "ml.yaml").read_text())
    doc["data"] = {
        "hub": {"id": "org/reviews"},
        "labels": ["negative", "positive"],
        "text_column": "sentence",
        "checks": {"min_rows": 2, "min_rows_per_class": 1},
    }
    (repo / "ml.yaml").write_text(yaml.safe_dump(doc))
    (repo / "org/reviews").mkdir(parents=True)
    for split, offset in (("train", 0), ("validation", 100)):
        rows = [["sentence", "label"]] + [[f"review number {offset + i:04d} " + "!" * (i % 5), str(i % 2)] for i in range(40)]
        write_rows(repo / f"org/reviews/{split}.csv", rows)
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1"}
    result = ml_ci(repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    splits = json.loads((repo / REPORT).read_text())["splits"]
    sources = {role: s["source"] for role, s in splits.items()}
    assert sources == {"train": "org/reviews[train]", "validation": "org/reviews[validation]"}
    assert re.fullmatch(r"hub:org/reviews/default\[train\]@unpinned#[0-9a-f]{16}", splits["train"]["fingerprint"])

    doc["data"]["hub"]["splits"] = {"train": "train", "validation": "dev"}
    (repo / "ml.yaml").write_text(yaml.safe_dump(doc))
    result = ml_ci(repo, env=env)
    assert result.returncode == 3
    assert result.stderr.splitlines()[-1] == (
        "error: hub dataset org/reviews[dev]: Unknown split \"dev\". Should be one of ['train', 'validation']."
    )


# --- issue 22's first hour: a multi-class TSV with integer labels and no validation file --------------

TREC = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
CUES = ["stand for", "mean", "animal", "who", "where", "how many"]
FIRST_HOUR_YAML = """\
version: 1
name: questions
data:
  train: data/train.tsv
  text_column: question
  label_column: coarse
  labels: [ABBR, DESC, ENTY, HUM, LOC, NUM]
model:
  base: models/tiny
"""


def first_hour_repo(root: Path, ml_yaml: str = FIRST_HOUR_YAML) -> Path:
    """data/train.tsv as such data sets come: a header, tabs, integer labels, commas and quotes in the texts,
    one rare class (12 rows against 60); no validation file. The ml.yaml names only paths, labels and columns."""
    lines = ["question\tcoarse"]
    for label, cue in enumerate(CUES):
        for i in range(12 if label == 0 else 60):
            lines.append(f'q{label}-{i}: {cue}, said the "asker", number {i * 7 + label}?\t{label}')
    (root / "data").mkdir(parents=True)
    (root / "data/train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "ml.yaml").write_text(ml_yaml, encoding="utf-8")
    return root


def command(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CI": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return subprocess.run(
        [sys.executable, "-m", "ml_ci", *args], cwd=root, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_a_tsv_with_integer_labels_and_no_validation_file_validates_and_passes_its_checks(tmp_path: Path) -> None:
    """Issue 22 (done when): validate and data check pass as is; validation is 10% of each label of train."""
    repo = first_hour_repo(tmp_path)
    validated = command(repo, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    checked = command(repo, "data", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    splits = json.loads((repo / REPORT).read_text())["splits"]
    assert {role: (s["source"], s["rows"]) for role, s in splits.items()} == {
        "train": ("data/train.tsv", 281),
        "validation": ("data/train.tsv (10% held out, seed 0)", 31),
    }
    assert splits["validation"]["labels"] == {"ABBR": 1, "DESC": 6, "ENTY": 6, "HUM": 6, "LOC": 6, "NUM": 6}
    again = command(repo, "data", "check", "--no-cache")
    assert json.loads((repo / REPORT).read_text())["splits"] == splits, again.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "evaluate", ["", "evaluate:\n  metrics: [accuracy, f1_macro]\n"], ids=["default-metrics", "explicit-metrics"]
)
def test_the_first_hour_runs_end_to_end_on_the_held_out_split(tmp_path: Path, evaluate: str) -> None:
    """Issue 22 (done when): train, evaluate and export run on the minimal ml.yaml, each reading the
    held-out validation split (evaluate falls back to it: there is no test file); lineage records it.
    A randomly initialized 2-layer BERT (tests/modelrepo.py) stands in for a real model: nothing here is about
    accuracy, and ml.yaml has no gates. `build` (Docker) is left to the image tests."""
    from tests.modelrepo import tiny_model

    repo = first_hour_repo(tmp_path, FIRST_HOUR_YAML + evaluate)
    tiny_model(repo / "models/tiny", labels=tuple(TREC))
    for stage in (("validate",), ("data", "check"), ("train",), ("evaluate",), ("export",)):
        done = command(repo, *stage, timeout=900)
        assert done.returncode == 0, f"{' '.join(stage)}: " + done.stdout[-3000:] + done.stderr[-3000:]
    splits = json.loads((repo / REPORT).read_text())["splits"]
    lineage = json.loads((repo / ".ml-ci/artifacts/train/lineage.json").read_text())
    assert lineage["data"] == {
        "train": {"source": "data/train.tsv", "fingerprint": splits["train"]["fingerprint"]},
        "validation": {
            "source": "data/train.tsv (10% held out, seed 0)",
            "fingerprint": splits["validation"]["fingerprint"],
            "split_from": {"split": "train", "fraction": 0.1, "seed": 0},
        },
    }
    record = json.loads(next((repo / ".ml-ci/artifacts/evaluate").rglob("eval.json")).read_text())
    assert (record["split"], record["examples"], record["data_fingerprint"]) == (
        "validation",
        31,
        splits["validation"]["fingerprint"],
    )
    parity = json.loads(next((repo / ".ml-ci/artifacts/export").rglob("parity.json")).read_text())
    assert parity["examples"] == 31
