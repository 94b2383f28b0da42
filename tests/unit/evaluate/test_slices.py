from __future__ import annotations

import pytest

from ml_ci.config.model import LengthRange, Slice
from ml_ci.errors import OperationalError
from ml_ci.evaluate.slices import select


def test_length_slices_are_half_open() -> None:
    [s] = select([Slice(name="short", min_rows=2, gates=(), length=LengthRange(min=0, max=5))], [3, 5, 4, 10], {})
    assert s.rows == (0, 2)
    assert s.spec == "length in [0, 5)"
    assert s.gated


def test_a_column_without_value_expands_per_value_and_small_slices_are_not_gated() -> None:
    spec = Slice(name="source", column="src", min_rows=2, gates=())
    out = select([spec], [1] * 5, {"src": ["web", "app", "web", None, "web"]})
    assert [(s.name, s.rows, s.gated) for s in out] == [
        ("source:", (3,), False),
        ("source:app", (1,), False),
        ("source:web", (0, 2, 4), True),
    ]
    [one] = select(
        [Slice(name="web", column="src", value="web", min_rows=5, gates=())], [1] * 5, {"src": ["web", "app", "web", None, "web"]}
    )
    assert (one.name, len(one.rows), one.gated) == ("web", 3, False)


def test_a_missing_column_is_named() -> None:
    with pytest.raises(OperationalError, match="column 'src' is not in the evaluated split"):
        select([Slice(name="s", column="src", min_rows=1, gates=())], [1], {})
