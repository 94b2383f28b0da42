"""Reading CoNLL column files (token-classification): sentences, their locations, and the lines refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.data.read import infer_format, parse_conll, read_table
from ml_ci.errors import DataCheckError


def test_sentences_are_split_on_blank_lines_and_located_at_their_first_word() -> None:
    text = "EU B-ORG\nrejects O\n\n\nPeter B-PER\nBlackburn I-PER\n"
    columns, locations = parse_conll(text, "d.conll")
    assert columns == {"tokens": [["EU", "rejects"], ["Peter", "Blackburn"]], "tags": [["B-ORG", "O"], ["B-PER", "I-PER"]]}
    assert locations == ["d.conll:1", "d.conll:5"]


def test_the_first_field_is_the_word_and_the_last_the_tag() -> None:
    """CoNLL-2003's four columns (word, part of speech, chunk, entity), tabs or spaces between them."""
    columns, _ = parse_conll("EU NNP B-NP B-ORG\nrejects\tVBZ\tB-VP\tO\n", "d.conll")
    assert columns == {"tokens": [["EU", "rejects"]], "tags": [["B-ORG", "O"]]}


def test_docstart_lines_are_skipped_and_end_a_sentence() -> None:
    text = "-DOCSTART- -X- -X- O\n\nEU B-ORG\n-DOCSTART- O\nPeter B-PER\n"
    columns, locations = parse_conll(text, "d.conll")
    assert columns["tokens"] == [["EU"], ["Peter"]]
    assert locations == ["d.conll:3", "d.conll:5"]


def test_whitespace_only_lines_and_a_missing_final_newline_and_crlf() -> None:
    columns, locations = parse_conll("EU B-ORG\r\n  \t\r\nPeter B-PER", "d.conll")
    assert columns["tokens"] == [["EU"], ["Peter"]]
    assert locations == ["d.conll:1", "d.conll:3"]


def test_a_line_with_one_field_names_its_file_and_line() -> None:
    with pytest.raises(DataCheckError) as e:
        parse_conll("EU B-ORG\nrejects\nGerman B-MISC\n", "data/train.conll")
    assert str(e.value) == (
        "data/train.conll:2: one field ('rejects'); a CoNLL line is a word and its tag separated by whitespace "
        "(`EU B-ORG`), and a blank line ends a sentence"
    )


def test_an_empty_file_has_no_sentences() -> None:
    """min_rows then says the split has no rows."""
    assert parse_conll("", "d.conll") == ({"tokens": [], "tags": []}, [])
    assert parse_conll("-DOCSTART- O\n\n", "d.conll") == ({"tokens": [], "tags": []}, [])


def test_the_format_comes_from_the_extension_or_data_format() -> None:
    assert infer_format("data/train.conll", None) == "conll"
    assert infer_format("data/train.txt", "conll") == "conll"
    assert infer_format("data/train.txt", None) is None


def test_read_table_reads_conll_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "train.conll"
    path.write_bytes(b"\xef\xbb\xbfEU B-ORG\n")
    table = read_table(path, role="train", source="data/train.conll", fmt="conll")
    assert (table.columns, table.locations) == ({"tokens": [["EU"]], "tags": [["B-ORG"]]}, ["data/train.conll:1"])


def test_read_table_names_a_byte_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "train.conll"
    path.write_bytes(b"EU B-ORG\n\nM\xfcller B-PER\n")
    with pytest.raises(DataCheckError, match=r"^data/train.conll:3: not valid UTF-8 \(byte 0xfc"):
        read_table(path, role="train", source="data/train.conll", fmt="conll")
