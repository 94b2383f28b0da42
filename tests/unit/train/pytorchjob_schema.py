"""Checks a PyTorchJob against the Kubeflow CRD's openAPIV3Schema (tests/fixtures/kubeflow) with unknown
fields refused, as the API server's strict field validation does, and against the operator's own
rules (one Master; a container named `pytorch` with an image). Shared by unit and integration tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

FIXTURE = Path(__file__).parents[2] / "fixtures" / "kubeflow" / "pytorchjob-v1.openapi.json"


def strict(schema: Any) -> Any:
    """Close every object that lists its properties and does not preserve unknown fields."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


SCHEMA = strict(json.loads(FIXTURE.read_text()))


def operator_problems(job: dict[str, Any]) -> list[str]:
    problems = []
    for kind, spec in job["spec"]["pytorchReplicaSpecs"].items():
        if kind not in ("Master", "Worker"):
            problems.append(f"unknown replica type {kind}")
        if kind == "Master" and spec.get("replicas", 1) != 1:
            problems.append("Master must have exactly one replica")
        containers = spec["template"]["spec"]["containers"]
        if not any(c["name"] == "pytorch" and c.get("image") for c in containers):
            problems.append(f"{kind} has no container named pytorch with an image")
    return problems


def validate(job: dict[str, Any]) -> list[str]:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(job)]
    return errors + operator_problems(job)
