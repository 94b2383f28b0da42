"""Reading split files: locations, and a clear error for each kind of bad file."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from ml_ci.data.read import MAX_FILE_BYTES, decode, delimiter_of, infer_format, parse_csv, parse_json, read_table
from ml_ci.errors import DataCheckError, OperationalError


def test_csv_locations_are_the_line_where_each_record_starts() -> None:
    text = 'text,label\n"two\nlines",positive\n\nplain,negative\n'
    columns, locations = parse_csv(text, "d.csv")
    assert columns == {"text": ["two\nlines", "plain"], "label": ["positive", "negative"]}
    assert locations == ["d.csv:2", "d.csv:5"]


def test_csv_empty_field_is_missing() -> None:
    columns, _ = parse_csv("text,label\n,positive\n", "d.csv")
    assert columns["text"] == [None]


def test_csv_ragged_row_names_file_line_and_header() -> None:
    with pytest.raises(DataCheckError) as e:
        parse_csv("text,label\na,positive\nb, c,negative\n", "data/train.csv")
    assert str(e.value) == "data/train.csv:3: 3 fields, but the header has 2 (text, label); quote values that contain commas"


def test_csv_bad_quoting() -> None:
    with pytest.raises(DataCheckError) as e:
        parse_csv('text,label\n"a"b,positive\n', "d.csv")
    assert str(e.value) == "d.csv:2: malformed CSV: ',' expected after '\"'"


def test_csv_empty_file_and_repeated_header() -> None:
    with pytest.raises(DataCheckError) as e:
        parse_csv("", "d.csv")
    assert str(e.value) == "d.csv: the file is empty; a CSV split needs a header row and data rows"
    with pytest.raises(DataCheckError) as e:
        parse_csv("text,text\n", "d.csv")
    assert str(e.value) == "d.csv:1: the header names column 'text' twice"


def test_csv_header_only_is_an_empty_split_not_an_error() -> None:
    assert parse_csv("text,label\n", "d.csv") == ({"text": [], "label": []}, [])


def test_non_utf8_names_the_line_and_byte() -> None:
    with pytest.raises(DataCheckError) as e:
        decode(b"text,label\nok,positive\ncaf\xe9,negative\n", "d.csv")
    assert str(e.value) == "d.csv:3: not valid UTF-8 (byte 0xe9 at offset 26); save the file as UTF-8"


def test_a_byte_order_mark_is_dropped() -> None:
    assert decode("\ufefftext".encode(), "d.csv") == "text"


def test_json_lines_and_json_array() -> None:
    columns, locations = parse_json('{"text": "a", "label": 0}\n\n{"text": "b"}\n', "d.jsonl")
    assert columns == {"text": ["a", "b"], "label": [0, None]}
    assert locations == ["d.jsonl:1", "d.jsonl:3"]
    columns, locations = parse_json('[{"text": "a", "label": 1}]', "d.json")
    assert (columns, locations) == ({"text": ["a"], "label": [1]}, ["d.json: row 1"])


def test_json_errors_name_the_line() -> None:
    with pytest.raises(DataCheckError) as e:
        parse_json('{"text": "a"}\n{"text": \n', "d.jsonl")
    assert str(e.value) == "d.jsonl:2: invalid JSON: Expecting value (column 10)"
    with pytest.raises(DataCheckError) as e:
        parse_json('{"text": "a"}\n["b"]\n', "d.jsonl")
    assert str(e.value) == "d.jsonl:2: expected an object with the columns as keys, got list"
    with pytest.raises(DataCheckError) as e:
        parse_json('[{"text": "a"},\n 3]', "d.json")
    assert str(e.value) == "d.json: row 2: expected an object with the columns as keys, got int"
    with pytest.raises(DataCheckError) as e:
        parse_json('[{"text": "a"},\n', "d.json")
    assert str(e.value) == "d.json:2: invalid JSON: Expecting value"


def test_parquet_round_trip(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", None], "label": [0, 1]}), path)
    t = read_table(path, role="train", source="d.parquet", fmt="parquet")
    assert t.columns == {"text": ["a", None], "label": [0, 1]}
    assert t.locations == ["d.parquet: row 1", "d.parquet: row 2"]


def test_corrupt_parquet(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataCheckError, match=r"^d\.parquet: not a readable Parquet file: "):
        read_table(tmp_path / "d.parquet", role="train", source="d.parquet", fmt="parquet")


def test_read_table_fingerprint_is_sha256_of_the_bytes(tmp_path: Path) -> None:
    data = b"text,label\na,positive\n"
    (tmp_path / "d.csv").write_bytes(data)
    t = read_table(tmp_path / "d.csv", role="train", source="d.csv", fmt="csv")
    assert t.fingerprint == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (t.role, t.source, len(t)) == ("train", "d.csv", 1)


def test_a_file_above_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(2 * 1000**3)  # sparse: takes no disk space
    with pytest.raises(DataCheckError) as e:
        read_table(path, role="train", source="data/huge.csv", fmt="csv")
    assert str(e.value) == (
        "data/huge.csv: the file is 1.9 GiB, above ml-ci's cap of 1.0 GiB for a data file; not read. "
        "Put large datasets on the hub (data.hub) or sample them"
    )
    assert MAX_FILE_BYTES == 1 << 30


def test_missing_file_and_folder_are_operational(tmp_path: Path) -> None:
    with pytest.raises(OperationalError) as e:
        read_table(tmp_path / "nope.csv", role="train", source="data/nope.csv", fmt="csv")
    assert str(e.value) == "data/nope.csv: no such file"
    with pytest.raises(OperationalError) as e:
        read_table(tmp_path, role="train", source="data", fmt="csv")
    assert str(e.value) == "data: is a folder, not a data file"


def test_unreadable_file_is_operational(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\n")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads any file (CI runs as root): the kernel's refusal is played instead

        def refuse(self: Path) -> bytes:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

        monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(OperationalError, match=r"^d\.csv: cannot read: Permission denied$"):
        read_table(path, role="train", source="d.csv", fmt="csv")


@pytest.mark.parametrize(
    ("path", "configured", "expected"),
    [
        ("a.csv", None, "csv"),
        ("a.JSONL", None, "json"),
        ("a.json", None, "json"),
        ("a.pq", None, "parquet"),
        ("a.txt", None, None),
        ("a.txt", "csv", "csv"),
        ("a.tsv", None, "tsv"),
        ("a.TAB", None, "tsv"),
        ("a.tsv", "csv", "csv"),
    ],
)
def test_infer_format(path: str, configured: str | None, expected: str | None) -> None:
    assert infer_format(path, configured) == expected  # type: ignore[arg-type]


def test_json_records_keep_non_text_values_for_the_columns_check() -> None:
    columns, _ = parse_json(json.dumps({"text": 5, "label": [1]}), "d.jsonl")
    assert columns == {"text": [5], "label": [[1]]}


def test_a_tsv_file_is_read_by_its_extension(tmp_path: Path) -> None:
    """Issue 22: data/train.tsv was refused ("cannot tell the format"); a tab splits it, quoting as in CSV."""
    (tmp_path / "train.tsv").write_text('sentence\tlabel\na, b and c\t3\n"tab\tinside"\t0\n', encoding="utf-8")
    fmt = infer_format("data/train.tsv", None)
    assert fmt == "tsv"
    t = read_table(tmp_path / "train.tsv", role="train", source="data/train.tsv", fmt=fmt)
    assert t.columns == {"sentence": ["a, b and c", "tab\tinside"], "label": ["3", "0"]}
    assert t.locations == ["data/train.tsv:2", "data/train.tsv:3"]


def test_data_delimiter_splits_a_csv_on_another_character(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("text;label\nfine, really;1\n", encoding="utf-8")
    t = read_table(tmp_path / "train.txt", role="train", source="data/train.txt", fmt="csv", delimiter=";")
    assert t.columns == {"text": ["fine, really"], "label": ["1"]}


def test_a_csv_header_holding_a_tab_says_it_is_tab_separated() -> None:
    """Issue 22: a TSV read as CSV said "2 fields, but the header has 1 ... quote values that contain commas"."""
    with pytest.raises(DataCheckError) as e:
        parse_csv("sentence\tlabel\na, b\t1\n", "data/train.txt")
    assert str(e.value) == (
        "data/train.txt:1: the header 'sentence\\tlabel' holds a tab but is read as one column, "
        'split on commas; set data.delimiter: "\\t" (or name the file .tsv)'
    )
    with pytest.raises(DataCheckError) as e:
        parse_csv("text;label\na;1\n", "data/train.csv")
    assert str(e.value) == (
        "data/train.csv:1: the header 'text;label' holds a semicolon but is read as one column, "
        "split on commas; set data.delimiter: ';'"
    )


def test_a_ragged_tsv_row_names_tabs() -> None:
    with pytest.raises(DataCheckError) as e:
        parse_csv("text\tlabel\na\tb\t1\n", "data/train.tsv", "\t")
    assert str(e.value) == "data/train.tsv:2: 3 fields, but the header has 2 (text, label); quote values that contain tabs"


def test_a_missing_file_names_the_setting_that_points_at_it(tmp_path: Path) -> None:
    """Issue 22: `data/valid.csv: no such file` did not say which key of ml.yaml names it."""
    with pytest.raises(OperationalError) as e:
        read_table(tmp_path / "valid.csv", role="validation", source="data/valid.csv", fmt="csv", key="data.validation")
    assert str(e.value) == (
        "data/valid.csv: no such file (named by data.validation in ml.yaml: fix the path there or add the file)"
    )


@pytest.mark.parametrize(
    ("fmt", "configured", "expected"),
    [
        ("csv", None, ","),
        ("tsv", None, "\t"),
        ("csv", "\t", "\t"),
        ("csv", "\\t", "\t"),
        ("tsv", ";", ";"),
    ],
)
def test_delimiter_of(fmt: str, configured: str | None, expected: str) -> None:
    """`delimiter: \\t` unquoted in YAML is the two characters backslash and t: read as the tab it means."""
    assert delimiter_of(fmt, configured) == expected
