"""The pure helpers around Trainer: checkpoint choice, batch split, progress display."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ml_ci.config.model import Distributed, Train
from ml_ci.errors import ConfigError
from ml_ci.train.fit import is_main_process, latest_checkpoint, per_device_batch, show_progress_bar, world_size

TRAIN = Train(epochs=1, batch_size=32, learning_rate=1e-4, weight_decay=0.0, warmup_ratio=0.1, gradient_accumulation_steps=1,
              eval_steps=0, seed=1, precision="auto", class_weights="none", distributed=Distributed(nproc_per_node=1, nodes=1))


def _checkpoint(root: Path, step: int, state: str | None = '{"global_step": 1}') -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    return path


def test_latest_complete_checkpoint_passes_over_one_a_kill_interrupted(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "none") is None
    _checkpoint(tmp_path, 2)
    ten = _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 12, state=None)  # killed before its state was written
    _checkpoint(tmp_path, 14, state='{"global_st')  # killed while writing it
    (tmp_path / "checkpoint-x").mkdir()
    assert latest_checkpoint(tmp_path) == ten  # numeric order: 10 after 2


def test_global_batch_is_split_evenly_across_processes() -> None:
    assert per_device_batch(TRAIN, 1) == 32
    assert per_device_batch(TRAIN, 4) == 8
    with pytest.raises(ConfigError, match="32 does not split evenly across 3 processes; use a multiple of 3"):
        per_device_batch(TRAIN, 3)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_outside_ci() -> None:
    assert show_progress_bar({}, Tty())
    assert not show_progress_bar({"CI": "true"}, Tty())
    assert not show_progress_bar({}, io.StringIO())


def test_rank_and_world_size_come_from_torchrun_variables() -> None:
    assert (world_size({}), is_main_process({})) == (1, True)
    assert (world_size({"WORLD_SIZE": "2", "RANK": "1"}), is_main_process({"RANK": "1"})) == (2, False)
