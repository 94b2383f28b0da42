"""Workflow-command escaping, owned by ml_ci.github.actions_io (the toolkit's escapeData/escapeProperty)."""

from __future__ import annotations

from ml_ci.github.actions_io import escape_data, escape_property


def test_data_escapes_percent_first_then_line_ends() -> None:
    assert escape_data("50%\r\nnext: a,b") == "50%25%0D%0Anext: a,b"
    assert escape_data("%0A") == "%250A"  # a literal %0A stays literal


def test_properties_also_escape_colon_and_comma() -> None:
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
