"""Evaluation: metrics, quality gates, paired significance tests and baselines.

The pure parts (metrics, gates, significance, baseline matching, slices) take plain numbers and
arrays; `stage` is the thin effectful part that runs the model and writes the record.
"""
