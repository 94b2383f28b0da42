"""Fine-tuning: hyperparameters, precision, the base model, `fit`, the train stage, scale-out.

Only `fit`, `stage` (when it trains) and `launch` import torch and transformers, inside
functions; `params`, `precision`, `pytorchjob`, `lineage` and `card` are pure.
"""
