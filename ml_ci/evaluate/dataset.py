"""The seam to the data loader and the task: the one split evaluate reads.

`ml_ci.data.load` reads the tables (files or a hub dataset), the task's data half makes its rows
(the same checks as for training), and its evaluation half takes out the texts and what each example
is (`Examples`), so the rest of evaluate never touches `datasets` nor a task's columns.
"""

from __future__ import annotations

from ml_ci import tasks
from ml_ci.config.model import Config
from ml_ci.errors import DataCheckError
from ml_ci.tasks.protocols.evaluation import Examples


def split_role(config: Config) -> str:
    """evaluate.split, falling back to validation when there is no test split."""
    has_test = bool(config.data.test) or bool(config.data.hub and config.data.hub.splits.test)
    return "test" if config.evaluate.split == "test" and has_test else "validation"


def load_eval_split(config: Config) -> Examples:
    """The evaluated split only, as the loader checks it, without a round trip through `datasets`."""
    from ml_ci.data.load import load_tables

    role = split_role(config)
    table = load_tables(config).get(role)
    if table is None:
        raise DataCheckError(f"there is no {role} split to evaluate on (data.{role} in ml.yaml)")
    task = tasks.get(config.task)
    rows = task.data().rows(table, config.data)
    return task.evaluation().examples(config, role, rows, table.fingerprint)
