"""The inference server the serving image runs.

Light on purpose: this package imports only the standard library, numpy, tokenizers,
onnxruntime and prometheus_client (the `[serve]` extra), never click, the config loader or torch,
so that the image stays small and starts fast. What a request and an answer hold is the serving half
of the task model.json names (`ml_ci.tasks.protocols.serving`); the image carries those halves and
`ml_ci.records.model` beside this package (`ml_ci.build.context.server_sources`).
`python -m ml_ci.serve --model DIR` runs it alone.
"""
