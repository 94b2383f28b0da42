"""Hyperparameter search with Optuna.

`space` turns tune.search_space into Optuna suggestions and grids, `plan` resolves the study
(name, storage, sampler, pruner, limits) without side effects, `objective` wraps the trainer so
that each validation evaluation feeds the pruner, `summary` and `report` turn the finished study
into best_params.json, a markdown/JSON report and plots, and `run` is the thin effectful part
(opening the storage, running local workers, writing the artifacts).
"""
