"""ml-ci: CI/CD for machine-learning models, driven by one ml.yaml."""

__version__ = "0.1.0"
