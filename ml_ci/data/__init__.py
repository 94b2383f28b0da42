"""Data: reading the splits (`read`, `load`), their fingerprints, and `ml-ci data check`.

`load.load_splits` is what training and evaluation use; `check` runs the checks of ml.yaml's
data.checks over the same parsed rows. Only `load` and `hub` import `datasets`, inside functions.
"""
