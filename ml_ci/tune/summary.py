"""The finished study as plain data: the trials table, the best trial, best_params and markdown.

Pure: it reads trials through a small Protocol (Optuna's FrozenTrial satisfies it), so tests
build toy trials without a storage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Protocol

from ml_ci.tune.objective import STEPS_ATTR

FINISHED = ("COMPLETE", "PRUNED")


class TrialRecord(Protocol):
    number: int
    value: Optional[float]
    params: dict[str, Any]
    user_attrs: dict[str, Any]
    datetime_start: Optional[dt.datetime]
    datetime_complete: Optional[dt.datetime]

    @property
    def state(self) -> Any: ...


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: Optional[float]
    params: dict[str, Any]
    steps: Optional[int]
    seconds: Optional[float]


@dataclass(frozen=True)
class Summary:
    study_name: str
    metric: str
    direction: str
    trials: tuple[TrialRow, ...]
    best: Optional[TrialRow]
    importances: dict[str, float] = field(default_factory=dict)
    plots: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.trials:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    @property
    def total_steps(self) -> int:
        """Optimizer steps over every trial: the training compute the search cost."""
        return sum(t.steps or 0 for t in self.trials)

    def best_params(self) -> dict[str, Any]:
        return dict(self.best.params) if self.best else {}

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study_name,
            "metric": self.metric,
            "direction": self.direction,
            "best": None
            if self.best is None
            else {"trial": self.best.number, "value": self.best.value, "params": self.best.params},
            "counts": self.counts,
            "total_steps": self.total_steps,
            "importances": self.importances,
            "plots": list(self.plots),
            "trials": [
                {
                    "number": t.number,
                    "state": t.state,
                    "value": t.value,
                    "params": t.params,
                    "steps": t.steps,
                    "seconds": t.seconds,
                }
                for t in self.trials
            ],
        }


def _state_name(state: Any) -> str:
    return str(getattr(state, "name", state))


def row(trial: TrialRecord) -> TrialRow:
    seconds = None
    if trial.datetime_start and trial.datetime_complete:
        seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3)
    steps = trial.user_attrs.get(STEPS_ATTR)
    return TrialRow(
        number=trial.number,
        state=_state_name(trial.state),
        value=trial.value,
        params=dict(trial.params),
        steps=steps if isinstance(steps, int) else None,
        seconds=seconds,
    )


def summarize(study_name: str, metric: str, direction: str, trials: Sequence[TrialRecord]) -> Summary:
    rows = tuple(sorted((row(t) for t in trials), key=lambda r: r.number))
    complete = [r for r in rows if r.state == "COMPLETE" and r.value is not None]
    best = None
    # On a tie the earlier trial wins: it is the one a rerun reports too.
    if complete and direction == "maximize":
        best = max(complete, key=lambda r: (r.value, -r.number))
    elif complete:
        best = min(complete, key=lambda r: (r.value, r.number))
    return Summary(study_name=study_name, metric=metric, direction=direction, trials=rows, best=best)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown(summary: Summary, *, top: int = 20) -> str:
    """The report's markdown: best value and params, state counts, importances and the trials table
    (the best `top` finished trials, so that a long study still fits a PR comment)."""
    lines = [f"## Tuning: {summary.study_name}", ""]
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(summary.counts.items())) or "no trials"
    if summary.best is None:
        lines += [f"No trial completed ({counts}).", ""]
    else:
        lines += [
            f"Best {summary.metric}: **{_fmt(summary.best.value)}** (trial {summary.best.number}, {summary.direction}); "
            f"{counts}; {summary.total_steps} optimizer steps in all.",
            "",
            "| parameter | best value |",
            "| --- | --- |",
        ]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(summary.best.params.items())]
        lines.append("")
    if summary.importances:
        lines += ["Parameter importances (fANOVA):", "", "| parameter | importance |", "| --- | --- |"]
        lines += [f"| {k} | {v:.3f} |" for k, v in sorted(summary.importances.items(), key=lambda kv: -kv[1])]
        lines.append("")
    names = sorted({k for t in summary.trials for k in t.params})
    finished = [t for t in summary.trials if t.state in FINISHED]
    reverse = summary.direction == "maximize"
    shown = sorted(finished, key=lambda t: (t.value is None, -(t.value or 0.0) if reverse else (t.value or 0.0)))[:top]
    if shown:
        title = "Trials" if len(shown) == len(summary.trials) else f"Trials (best {len(shown)} of {len(summary.trials)})"
        lines += [
            f"{title}:",
            "",
            "| trial | state | " + " | ".join([summary.metric, *names, "steps"]) + " |",
            "| " + " | ".join(["---"] * (len(names) + 4)) + " |",
        ]
        for t in shown:
            cells = [str(t.number), t.state.lower(), _fmt(t.value), *(_fmt(t.params.get(n)) for n in names), _fmt(t.steps)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"![{p}]({p})" for p in summary.plots]
    return "\n".join(lines).rstrip() + "\n"


def with_extras(summary: Summary, importances: Mapping[str, float], plots: Sequence[str]) -> Summary:
    return replace(summary, importances=dict(importances), plots=tuple(plots))
