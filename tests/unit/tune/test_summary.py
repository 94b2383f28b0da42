from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional

from ml_ci.tune.summary import markdown, summarize, with_extras

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


@dataclass
class Toy:
    number: int
    state: str
    value: Optional[float]
    params: dict[str, Any]
    user_attrs: dict[str, Any] = field(default_factory=dict)
    datetime_start: Optional[dt.datetime] = T0
    datetime_complete: Optional[dt.datetime] = T0 + dt.timedelta(seconds=2)


TRIALS = [
    Toy(0, "COMPLETE", 0.80, {"learning_rate": 1e-5}, {"steps": 40}),
    Toy(1, "COMPLETE", 0.90, {"learning_rate": 1e-4}, {"steps": 40}),
    Toy(2, "PRUNED", 0.50, {"learning_rate": 1e-3}, {"steps": 10}),
    Toy(3, "FAIL", None, {"learning_rate": 3e-4}, datetime_complete=None),
    Toy(4, "COMPLETE", 0.90, {"learning_rate": 2e-4}, {"steps": 40}),
]


def test_best_is_the_first_of_the_highest_when_maximizing() -> None:
    s = summarize("study", "accuracy", "maximize", TRIALS)
    assert s.best is not None and s.best.number == 1
    assert s.best_params() == {"learning_rate": 1e-4}
    assert s.counts == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}
    assert s.total_steps == 130


def test_best_when_minimizing_ignores_pruned_values() -> None:
    s = summarize("study", "accuracy", "minimize", TRIALS)
    assert s.best is not None and s.best.number == 0  # the pruned 0.5 is not a result


def test_no_complete_trial_has_no_best() -> None:
    s = summarize("study", "accuracy", "maximize", [TRIALS[2], TRIALS[3]])
    assert s.best is None and s.best_params() == {}
    assert "No trial completed (1 fail, 1 pruned)." in markdown(s)


def test_markdown_and_json() -> None:
    s = with_extras(summarize("study", "accuracy", "maximize", TRIALS), {"learning_rate": 1.0}, ["history.png"])
    text = markdown(s)
    assert text.startswith(
        "## Tuning: study\n\nBest accuracy: **0.9** (trial 1, maximize); 3 complete, 1 fail, 1 pruned; "
        "130 optimizer steps in all.\n"
    )
    assert "| learning_rate | 1.000 |" in text
    assert "Trials (best 4 of 5):" in text  # the failed trial is counted, not listed
    rows = [line for line in text.splitlines() if line.startswith("| ") and (" complete " in line or " pruned " in line)]
    assert [r.split(" | ")[0] for r in rows] == ["| 1", "| 4", "| 0", "| 2"]
    assert text.rstrip().endswith("![history.png](history.png)")
    data = s.to_json()
    assert data["best"] == {"trial": 1, "value": 0.9, "params": {"learning_rate": 1e-4}}
    assert [t["seconds"] for t in data["trials"]] == [2.0, 2.0, 2.0, None, 2.0]


def test_markdown_shows_only_the_best_of_a_long_study() -> None:
    many = [Toy(i, "COMPLETE", i / 100, {"x": i}) for i in range(30)]
    text = markdown(summarize("s", "accuracy", "maximize", many), top=3)
    assert "Trials (best 3 of 30):" in text
    assert "| 29 | complete | 0.29 | 29 |  |" in text and "| 26 |" not in text
