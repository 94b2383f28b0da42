"""Each metric's own range, which refuses gates no model can pass, covers every metric the schema offers."""

from __future__ import annotations

from ml_ci.config.semantics import METRIC_RANGES
from ml_ci.resources import schema


def test_every_metric_of_the_schema_has_a_range() -> None:
    assert set(METRIC_RANGES) == set(schema()["$defs"]["gate"]["properties"]["metric"]["enum"])
    assert set(METRIC_RANGES) == set(schema()["properties"]["evaluate"]["properties"]["metrics"]["items"]["enum"])
