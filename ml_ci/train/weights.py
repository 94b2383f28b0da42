"""train.class_weights: the weight of each label in the training loss, resolved against the train split.

    resolve("balanced", ("negative", "positive"), [0, 0, 0, 1]) -> {"negative": 0.667, "positive": 2.0}

`balanced` is scikit-learn's rule, n_rows / (n_labels x rows of the label), so that the weights
average to 1 over the training rows and the loss keeps its scale; a label with no training rows
gets 1 (it never contributes). A mapping gives some labels a weight and the rest 1; ml.yaml's
validation (ml_ci.config.semantics) has already refused unknown labels and negative weights.
Pure: the loss that applies the weights lives in ml_ci.train.fit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

Spec = Union[str, Mapping[str, float]]


def resolve(spec: Spec, labels: Sequence[str], train_label_ids: Iterable[int]) -> dict[str, float] | None:
    """Label -> weight in the order of labels, or None for `none` (the plain, unweighted loss)."""
    if spec == "none":
        return None
    if isinstance(spec, str):  # "balanced"
        counts = Counter(int(i) for i in train_label_ids)
        rows = sum(counts.values())
        return {name: rows / (len(labels) * counts[i]) if counts[i] else 1.0 for i, name in enumerate(labels)}
    return {name: float(spec.get(name, 1.0)) for name in labels}


def lineage_entry(spec: Spec, weights: Mapping[str, float] | None) -> dict[str, object] | None:
    """What lineage.json says: the setting as written and the weights it resolved to (None: unweighted)."""
    if weights is None:
        return None
    return {"setting": spec if isinstance(spec, str) else dict(spec), "weights": dict(weights)}
