"""What `ml-ci export` needs from a task's export half.

The stage keeps what every task shares: the cache and its key, loading the splits, the ONNX file and
its int8 quantization, the tokenizer copy, model.json's generic keys and sha256, writing the folder
whole, and failing (exit 4, nothing written) when parity fails. The task says which model class is
exported with which inputs and outputs, how the exported model is compared with PyTorch, and what its
golden examples hold. The exported side runs through the task's serving half, as the image runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ml_ci.config.model import Config, Package
    from ml_ci.records.golden import GoldenRecord
    from ml_ci.records.model import ModelRecord


class TracedModel(Protocol):
    """The trained model, loaded (torch) to be exported and to give PyTorch's side of the comparisons."""

    @property
    def inputs(self) -> tuple[str, ...]:
        """The graph's input names, in order (model.json's `inputs`)."""
        ...

    @property
    def pad_id(self) -> int:
        """The padding token's id (model.json's `pad_id`)."""
        ...

    def export(self, path: Path, opset: int) -> None:
        """The ONNX graph at path, with dynamic batch (and sequence) axes."""
        ...


class ParityCheck(Protocol):
    """The exported model against PyTorch: parity.json, and whether it passes."""

    @property
    def passed(self) -> bool: ...

    @property
    def failures(self) -> list[str]:
        """One sentence per threshold missed, naming the package.* setting."""
        ...

    def record(self) -> dict[str, Any]:
        """parity.json's keys before `quantize` and `sha256`."""
        ...

    def summary(self) -> str:
        """The line `ml-ci export` prints about it."""
        ...


class ExportHalf(Protocol):
    """A task's export half: a module of the task's package that provides these names."""

    # Files of the export folder the serving image needs beyond the graph, the tokenizer and the records (those the
    # export wrote: text-generation's external weights and ONNX Runtime GenAI's config).
    SERVED_FILES: tuple[str, ...]

    def load(self, model_dir: Path, config: Config) -> TracedModel:
        """The trained model folder; OperationalError when it does not fit ml.yaml (e.g. other outputs),
        ValueError when it cannot be served (e.g. no fast tokenizer)."""
        ...

    def manifest_payload(self, config: Config) -> dict[str, Any]:
        """The task's keys of model.json (after `task`), which its serving half reads."""
        ...

    def image_labels(self, model: ModelRecord) -> dict[str, str]:
        """The task's labels of the image, from model.json's payload (`manifest_payload`'s keys): name -> value, each
        name under the model's (`ml-ci build` writes `io.ml-ci.model.<name>`), in the order they are written."""
        ...

    def examples(self, dataset: Any) -> tuple[list[Any], Any]:
        """A split's model inputs and what it says each is (None when it does not say)."""
        ...

    def parity(self, model: Any, served: Any, inputs: list[Any], truth: Any, package: Package) -> ParityCheck:
        """PyTorch (`model`, as `load` gave it) against `served` (the serving half's model on the exported
        folder) on the validation split."""
        ...

    def read_parity(self, data: dict[str, Any]) -> ParityCheck:
        """parity.json back (a cache hit reports what it says)."""
        ...

    def golden(self, model: Any, served: Any, inputs: list[Any], truth: Any, count: int, tolerance: float) -> GoldenRecord:
        """golden.json for the first `count` inputs: the served answers (what the image check and the smoke
        test compare with) with `tolerance` (ml_ci.records.golden)."""
        ...
