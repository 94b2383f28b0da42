"""Static proof that every registered task's half modules satisfy the protocols: mypy checks the
assignments below (a module missing a name, or with a different signature, is a type error).
tests/unit/tasks checks the same at run time, and that this file lists every registered task."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.config import ConfigHalf
    from ml_ci.tasks.protocols.data import DataHalf
    from ml_ci.tasks.protocols.evaluation import EvaluationHalf
    from ml_ci.tasks.protocols.export import ExportHalf
    from ml_ci.tasks.protocols.serving import ServingHalf
    from ml_ci.tasks.protocols.training import TrainingHalf
    from ml_ci.tasks.text_classification import config as tc_config
    from ml_ci.tasks.text_classification import data as tc_data
    from ml_ci.tasks.text_classification import evaluation as tc_evaluation
    from ml_ci.tasks.text_classification import export as tc_export
    from ml_ci.tasks.text_classification import serving as tc_serving
    from ml_ci.tasks.text_classification import training as tc_training
    from ml_ci.tasks.text_generation import config as lm_config
    from ml_ci.tasks.text_generation import data as lm_data
    from ml_ci.tasks.text_generation import evaluation as lm_evaluation
    from ml_ci.tasks.text_generation import export as lm_export
    from ml_ci.tasks.text_generation import serving as lm_serving
    from ml_ci.tasks.text_generation import training as lm_training
    from ml_ci.tasks.token_classification import config as ner_config
    from ml_ci.tasks.token_classification import data as ner_data
    from ml_ci.tasks.token_classification import evaluation as ner_evaluation
    from ml_ci.tasks.token_classification import export as ner_export
    from ml_ci.tasks.token_classification import serving as ner_serving
    from ml_ci.tasks.token_classification import training as ner_training

    _tc_config: ConfigHalf = tc_config
    _tc_data: DataHalf = tc_data
    _tc_training: TrainingHalf = tc_training
    _tc_evaluation: EvaluationHalf = tc_evaluation
    _tc_export: ExportHalf = tc_export
    _tc_serving: ServingHalf = tc_serving
    _ner_config: ConfigHalf = ner_config
    _ner_data: DataHalf = ner_data
    _ner_training: TrainingHalf = ner_training
    _ner_evaluation: EvaluationHalf = ner_evaluation
    _ner_export: ExportHalf = ner_export
    _ner_serving: ServingHalf = ner_serving
    _lm_config: ConfigHalf = lm_config
    _lm_data: DataHalf = lm_data
    _lm_training: TrainingHalf = lm_training
    _lm_evaluation: EvaluationHalf = lm_evaluation
    _lm_export: ExportHalf = lm_export
    _lm_serving: ServingHalf = lm_serving

CHECKED = ("text-classification", "token-classification", "text-generation")
