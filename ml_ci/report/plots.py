"""PNG plots with matplotlib's headless Agg backend: the confusion matrix and the metric history."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HISTORY_METRICS = ("accuracy", "f1_macro")


@contextmanager
def _figure(path: Path, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """A figure and its axes, saved to path when the block succeeds, closed either way."""
    import matplotlib

    matplotlib.use("Agg")  # no display on runners
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(dpi=100, **subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def confusion_png(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path) -> Path:
    n = len(labels)
    with _figure(path, figsize=(2.2 + 0.6 * n, 1.8 + 0.6 * n)) as (_, ax):
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(n), labels=list(labels), rotation=45, ha="right")
        ax.set_yticks(range(n), labels=list(labels))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        top = max((max(row) for row in matrix), default=0)
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black")
        ax.set_title("confusion matrix")
    return path


def history_png(
    history: Sequence[Mapping[str, Any]], current: Mapping[str, Any], path: Path, metrics: Sequence[str] = HISTORY_METRICS
) -> Path:
    """Each metric over the past evaluations (the baseline's history), then this one."""
    points = [*history, {"git_sha": "this", "metrics": current}]
    xs = list(range(len(points)))
    names = [str(p.get("git_sha") or "?")[:7] for p in points]
    with _figure(path, figsize=(max(4.0, 0.5 * len(points) + 2), 3.2)) as (_, ax):
        for m in metrics:
            ys = [(p.get("metrics") or {}).get(m) for p in points]
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=m)
        ax.set_xticks(xs, labels=names, rotation=45, ha="right")
        ax.set_title("metric history")
        ax.legend(loc="lower left")
    return path


def training_png(train_metrics: Mapping[str, Any], path: Path) -> Path | None:
    """The training run's curves (train/metrics.json): loss by step, and validation metrics by step.

    None when the file has no curve to draw (e.g. a model trained elsewhere)."""
    loss = [(p[0], p[1]) for p in train_metrics.get("loss_curve") or [] if isinstance(p, (list, tuple)) and len(p) == 2]
    evals = [e for e in train_metrics.get("eval_curve") or [] if isinstance(e, Mapping) and "step" in e]
    if not loss and not evals:
        return None
    with _figure(path, ncols=2, figsize=(8, 3.2)) as (_, (left, right)):
        if loss:
            left.plot([s for s, _ in loss], [v for _, v in loss], color="tab:red")
        left.set_title("training loss")
        left.set_xlabel("step")
        for m in HISTORY_METRICS:
            points = [(e["step"], e[m]) for e in evals if isinstance(e.get(m), (int, float))]
            if points:
                right.plot([s for s, _ in points], [v for _, v in points], marker="o", label=m)
        right.set_title("validation")
        right.set_xlabel("step")
        if evals:
            right.legend(loc="lower right")
    return path


def draw_all(record: Mapping[str, Any], folder: Path, train_metrics: Mapping[str, Any] | None = None) -> list[Path]:
    """Every plot of an evaluation record into folder: confusion matrix, metric history, training curves."""
    images = [
        confusion_png(record["labels"], record["confusion_matrix"], folder / "confusion.png"),
        history_png(record.get("history") or [], record["metrics"], folder / "history.png"),
    ]
    curve = training_png(train_metrics, folder / "training.png") if train_metrics else None
    return images + ([curve] if curve else [])
