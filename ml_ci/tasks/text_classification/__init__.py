"""text-classification: a sentence (or pair) classifier over `data.labels`, fine-tuned from any
encoder with a sequence-classification head, exported to ONNX, served as `{"label", "probabilities"}`.

The worked example of docs/adding-a-task.md: one module per half of `ml_ci.tasks.task.Task`.
"""

from ml_ci.tasks.task import Task

TASK = Task(
    name="text-classification",
    package=__name__,
    summary="classify a text into one of data.labels",
)
