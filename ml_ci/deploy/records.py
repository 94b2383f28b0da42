"""The records deploy reads from other stages (build/image.json, evaluate/eval.json).

What deploy itself writes (release.json and the per-environment deploy record) is
ml_ci.records.release; build/image.json is ml_ci.records.image; export/golden.json is ml_ci.records.golden.
"""

from __future__ import annotations

from typing import Any


def verdict_of(eval_record: Any) -> str:
    """The gate verdict recorded by `ml-ci evaluate` ("pass" or "fail"); "unknown" when absent."""
    if isinstance(eval_record, dict):
        verdict = eval_record.get("verdict")
        if isinstance(verdict, str):
            return verdict.lower()
        if isinstance(verdict, dict) and isinstance(verdict.get("status"), str):
            return str(verdict["status"]).lower()
        if isinstance(eval_record.get("passed"), bool):
            return "pass" if eval_record["passed"] else "fail"
    return "unknown"
