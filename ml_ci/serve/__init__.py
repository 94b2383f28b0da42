"""The inference server the serving image runs.

Light on purpose: this package imports only the standard library, numpy, tokenizers,
onnxruntime and prometheus_client (the `[serve]` extra), never click, the config loader or torch,
so that the image stays small and starts fast. `python -m ml_ci.serve --model DIR` runs it alone.
"""
