"""Evaluation: quality gates, paired significance tests, baselines, slices, latency and the record.

What is predicted and scored is the task's (`ml_ci.tasks.protocols.evaluation.EvaluationHalf`); the
pure parts here (gates, significance, baseline matching, slices, assemble) take plain numbers and the
task's opaque truth and outputs; `stage` is the thin effectful part that runs the model and writes
the record (`ml_ci.records.evaluation`).
"""
