"""padded_batches: the rows of every batch, longest first, each batch padded to its own longest row."""

from __future__ import annotations

from ml_ci.evaluate.batches import padded_batches


def test_batches_are_longest_first_and_padded_to_their_own_width() -> None:
    ids = [[1, 2], [3, 4, 5, 6], [7], [8, 9, 10]]
    batches = list(padded_batches(ids, None, pad_id=0, batch_size=2))
    assert [list(idx) for idx, _ in batches] == [[1, 3], [0, 2]]
    first, second = batches[0][1], batches[1][1]
    assert first["input_ids"].tolist() == [[3, 4, 5, 6], [8, 9, 10, 0]]
    assert first["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert second["input_ids"].tolist() == [[1, 2], [7, 0]]
    assert "token_type_ids" not in first


def test_token_types_are_padded_with_zeros_when_given() -> None:
    ids, types = [[1, 2, 3], [4]], [[0, 1, 1], [1]]
    [(idx, batch)] = padded_batches(ids, types, pad_id=9, batch_size=8)
    assert list(idx) == [0, 1]
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["token_type_ids"].tolist() == [[0, 1, 1], [1, 0, 0]]
