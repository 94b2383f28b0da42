"""Encoded examples as padded PyTorch batches, longest first: what every task's evaluation `predict` runs its
model on (and export's parity check with it).

Longest first so that peak memory shows up at once, not after minutes; each batch pads only to its own longest
row, as the server's length groups do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def padded_batches(
    ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None, pad_id: int, batch_size: int
) -> Iterator[tuple[IntArray, dict[str, Any]]]:
    """(the rows' indices into ids, the model's keyword arguments) per batch: input_ids padded with pad_id,
    attention_mask, and token_type_ids when the tokenizer gave them."""
    import torch

    order = np.argsort([-len(x) for x in ids], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            input_ids[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if types is not None:
            tt = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                tt[row, : len(types[i])] = types[i]
            batch["token_type_ids"] = torch.from_numpy(tt)
        yield idx, batch
