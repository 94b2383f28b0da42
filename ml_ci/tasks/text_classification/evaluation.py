"""text-classification's evaluation half (`ml_ci.tasks.protocols.evaluation.EvaluationHalf`)."""
