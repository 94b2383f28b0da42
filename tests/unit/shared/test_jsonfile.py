"""ml_ci.jsonfile: one JSON reader; each caller words the failure, so their messages stay as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.jsonfile import JsonFileError, load_json, read_json, read_object, read_optional


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ok.json").write_text('{"a": [1, 2]}', encoding="utf-8")
    (tmp_path / "list.json").write_text("[1]", encoding="utf-8")
    (tmp_path / "bad.json").write_text('{"a": 1,\n oops}', encoding="utf-8")
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    (tmp_path / "folder.json").mkdir()
    return tmp_path


def test_load_json_reads_any_value(files: Path) -> None:
    assert load_json(files / "ok.json") == {"a": [1, 2]}
    assert load_json(files / "list.json") == [1]


@pytest.mark.parametrize(
    ("name", "reason", "message"),
    [
        ("absent.json", "missing", "absent.json: does not exist"),
        ("folder.json", "folder", "folder.json: is a folder, not a file: [Errno 21] Is a directory: "),
        ("latin1.json", "unreadable", "latin1.json: cannot be read: 'utf-8' codec can't decode byte 0xe9"),
        ("bad.json", "invalid", "bad.json: is not valid JSON: Expecting property name enclosed in double quotes: line 2"),
    ],
)
def test_load_json_says_why_it_failed(files: Path, name: str, reason: str, message: str) -> None:
    with pytest.raises(JsonFileError) as caught:
        load_json(files / name)
    assert caught.value.reason == reason and caught.value.path == files / name
    assert str(caught.value).startswith(f"{files / name}: {message.split(': ', 1)[1]}")
    assert isinstance(caught.value, OperationalError)  # uncaught, it still exits 1 without a traceback
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_an_invalid_file_says_where(files: Path) -> None:
    with pytest.raises(JsonFileError) as caught:
        load_json(files / "bad.json")
    assert (caught.value.msg, caught.value.line, caught.value.col) == ("Expecting property name enclosed in double quotes", 2, 2)
    assert caught.value.detail == "Expecting property name enclosed in double quotes: line 2 column 2 (char 10)"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # The evaluation record's wording, which tests/unit/evaluate pins.
        ("absent.json", "the record {path} does not exist"),
        ("folder.json", "the record {path} is a folder, not a file"),
        (
            "latin1.json",
            "the record {path} cannot be read: 'utf-8' codec can't decode byte 0xe9 in position 7: invalid continuation byte",
        ),
        ("bad.json", "the record {path} is not valid JSON: Expecting property name enclosed in double quotes at line 2"),
        ("list.json", "the record {path} is not a JSON object"),
    ],
)
def test_read_object_names_the_file_by_its_noun(files: Path, name: str, message: str) -> None:
    with pytest.raises(OperationalError) as caught:
        read_object(files / name, "the record")
    assert str(caught.value) == message.format(path=files / name)


def test_read_object_returns_the_object(files: Path) -> None:
    assert read_object(files / "ok.json", "the record") == {"a": [1, 2]}


def test_read_optional_is_none_for_whatever_cannot_be_read(files: Path) -> None:
    assert read_optional(files / "ok.json") == {"a": [1, 2]}
    assert [read_optional(files / n) for n in ("absent.json", "folder.json", "latin1.json", "bad.json")] == [None] * 4


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # deploy's wording for the records it reads (tests/unit/deploy pins the missing one).
        ("absent.json", "{path}: the image record is missing; run `ml-ci build --push`"),
        ("folder.json", "{path}: cannot read the image record: [Errno 21] Is a directory: '{path}'"),
        ("bad.json", "{path}:2:2: the image record is not valid JSON: Expecting property name enclosed in double quotes"),
    ],
)
def test_read_json_starts_with_the_path_and_says_what_to_do(files: Path, name: str, message: str) -> None:
    with pytest.raises(OperationalError) as caught:
        read_json(files / name, "the image record", "run `ml-ci build --push`")
    assert str(caught.value) == message.format(path=files / name)
    assert read_json(files / "list.json", "the image record", "") == [1]
