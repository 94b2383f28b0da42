"""A validation split held out of train: `data.validation: {split_from: train, fraction, seed}`, and
what ml.yaml means when it gives no validation split at all (and no hub dataset). Pure.

The split is a function of the training file's bytes and the settings alone, so it is the same on
every machine and every run, and its fingerprint is known before any row is read:

- stratified: each of the task's strata (`DataHalf.strata`) gives `fraction` of its rows (rounded, at
  least one of a stratum with two or more, never all of them), so a rare stratum is in both splits;
- seeded and stable: rows are ordered by sha256(seed, normalized text), not by position or Python's
  random, so appending rows to the file moves few others across;
- grouped: texts equal after normalization (the duplicate and leakage checks' notion) go to the same
  side, so the split itself never leaks a text into validation.

Rows without a text or a stratum stay in train, where the checks report them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ml_ci.config.model import Data, SplitFrom
from ml_ci.data.normalize import normalize
from ml_ci.data.table import Table

# Part of every derived fingerprint: a change to how rows are chosen must change the cache keys.
ALGORITHM = "holdout-v1"


def default_holdout() -> SplitFrom:
    """What an ml.yaml without data.validation means; the numbers are the schema's defaults."""
    from ml_ci.resources import schema

    props = schema()["properties"]["data"]["properties"]["validation"]["properties"]
    return SplitFrom(split_from="train", fraction=props["fraction"]["default"], seed=props["seed"]["default"])


def holdout(data: Data) -> SplitFrom | None:
    """The hold-out that makes the validation split, or None when it is a file or a hub split."""
    if data.hub is not None or isinstance(data.validation, str):
        return None
    return data.validation or default_holdout()


def _order(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{key}".encode()).digest()


def held_out(texts: Sequence[object], strata: Sequence[int | None], fraction: float, seed: int) -> list[int]:
    """The indices (ascending) of the rows held out for validation; see the module docstring."""
    groups: dict[str, list[int]] = {}  # normalized text -> its rows, in file order
    for i, (text, stratum) in enumerate(zip(texts, strata, strict=True)):
        if stratum is not None and isinstance(text, str) and text.strip():
            groups.setdefault(normalize(text), []).append(i)
    by_stratum: dict[int, list[str]] = {}
    for key, rows in groups.items():
        stratum = strata[rows[0]]
        assert stratum is not None
        by_stratum.setdefault(stratum, []).append(key)
    out: list[int] = []
    for _, keys in sorted(by_stratum.items()):
        n = sum(len(groups[k]) for k in keys)
        want = 0 if n < 2 else min(n - 1, max(1, int(fraction * n + 0.5)))
        taken = 0
        for key in sorted(keys, key=lambda k: _order(seed, k)):
            if taken >= want:
                break
            if taken + len(groups[key]) > n - 1:  # would leave train without this stratum
                continue
            out.extend(groups[key])
            taken += len(groups[key])
    return sorted(out)


def derived_fingerprint(file_fingerprint: str, spec: SplitFrom, role: str, keys: Sequence[str]) -> str:
    """The fingerprint of one side of the split: the file's, with everything that decides the rows
    (`keys`: the task's settings that decide the texts and the strata, `DataHalf.split_keys`)."""
    parts = [
        ALGORITHM,
        file_fingerprint,
        role,
        repr(spec.fraction),
        str(spec.seed),
        *keys,
    ]
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def source_of(rel: str, spec: SplitFrom) -> str:
    """How the held-out split is named in messages, reports and lineage."""
    return f"{rel} ({spec.fraction * 100:g}% held out, seed {spec.seed})"


def _rows(table: Table, rows: Sequence[int], *, role: str, source: str, fingerprint: str) -> Table:
    # Each row keeps its location in the training file, so messages point at the line to fix.
    return Table(
        role=role,
        source=source,
        columns={name: [values[i] for i in rows] for name, values in table.columns.items()},
        locations=[table.locations[i] for i in rows],
        fingerprint=fingerprint,
    )


def split_table(
    train: Table, spec: SplitFrom, *, texts: Sequence[object], strata: Sequence[int | None], keys: Sequence[str]
) -> tuple[Table, Table]:
    """(train without the held-out rows, the validation split); texts, strata and keys are the task's."""
    held = held_out(texts, strata, spec.fraction, spec.seed)
    chosen = set(held)
    kept = [i for i in range(len(train)) if i not in chosen]
    return (
        _rows(
            train,
            kept,
            role="train",
            source=train.source,
            fingerprint=derived_fingerprint(train.fingerprint, spec, "train", keys),
        ),
        _rows(
            train,
            held,
            role="validation",
            source=source_of(train.source, spec),
            fingerprint=derived_fingerprint(train.fingerprint, spec, "validation", keys),
        ),
    )
