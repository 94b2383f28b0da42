"""The typed, versioned records that cross stage boundaries, one module per format.

Each record is a frozen dataclass with a `version`, one `read` and one `write`; no stage reads
another stage's JSON by string key. A task's own part of a record (its predictions, its golden
answers) is an opaque payload that only the task reads. Where each file lives: `ml_ci.pipeline.layout`.
"""
