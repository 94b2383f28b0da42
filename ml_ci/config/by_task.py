"""The parts of ml.yaml's schema that vary by task, made from the task registry (ml_ci.tasks).

schemas/ml.schema.json is written by hand except for what this module generates in it: the enum of
`task`, one `allOf` entry per task (`if` the task is X `then` X's keys and metric enums), and an empty
place in the generic section for each key a task adds there (so that the section's
`additionalProperties: false` knows the key; the task's branch says what it holds). A test fails when
the committed file differs from what this module makes of it; regenerate it with

    ml-ci schema --regenerate

The generic metrics (latency and size: evaluate measures them for any task) are listed here; each task's
config half lists its own (ml_ci.tasks.protocols.config). Light: `ml-ci validate` imports it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ml_ci import tasks
from ml_ci.tasks.protocols.config import ConfigHalf

if TYPE_CHECKING:
    from ml_ci.config.model import Config

GENERIC_METRICS = ("latency_p50_ms", "latency_p95_ms", "size_mb")
# The train.* keys every task's tune.search_space may name; a task's config half adds its own (TUNABLE).
SEARCHABLE = ("learning_rate", "batch_size", "epochs", "weight_decay", "warmup_ratio", "gradient_accumulation_steps")
# A latency or a size is never 0, and smaller is better.
GENERIC_RANGES: dict[str, tuple[float, float, bool]] = dict.fromkeys(GENERIC_METRICS, (0.0, math.inf, False))


def _half(task: str) -> ConfigHalf:
    return tasks.get(task).config()


def metrics(task: str) -> tuple[str, ...]:
    """Every metric evaluate can compute for the task: its own, then the generic ones."""
    return (*_half(task).METRICS, *GENERIC_METRICS)


def lower_is_better(task: str) -> frozenset[str]:
    """The task's metrics where smaller is better (gates, significance and tuning read them the other way round)."""
    return _half(task).LOWER_IS_BETTER | frozenset(GENERIC_METRICS)


# The generic metrics that time the machine (a task adds its own: ConfigHalf.TIMED).
GENERIC_TIMED = frozenset({"latency_p50_ms", "latency_p95_ms"})


def timed(task: str) -> frozenset[str]:
    """The task's metrics that are timings, not functions of the inputs: the generic latency and the task's own."""
    return GENERIC_TIMED | _half(task).TIMED


def metric_ranges(task: str) -> dict[str, tuple[float, float, bool]]:
    """Metric -> (lowest, highest, whether the lowest itself can occur), for every metric of the task."""
    return {**_half(task).METRIC_RANGES, **GENERIC_RANGES}


def metric_range(task: str, metric: str) -> tuple[float, float, bool]:
    """The range of one metric the schema accepted: a named one, or one of a family the task names by pattern
    (token-classification's `f1.PER`)."""
    named = metric_ranges(task)
    if metric in named:
        return named[metric]
    for pattern, span in _half(task).PATTERN_METRICS.items():
        if re.fullmatch(pattern, metric):
            return span
    raise KeyError(metric)


def _metric_names(task: str, names: list[str]) -> dict[str, Any]:
    """The schema of a metric name: one of the task's and the generic metrics, or of a family the task names by
    pattern (a metric per entity type, written `f1.PER`)."""
    patterns = list(_half(task).PATTERN_METRICS)
    if not patterns:
        return {"enum": names}
    return {"oneOf": [{"enum": names}, *({"pattern": f"^{p}$"} for p in patterns)]}


def _merged(node: Mapping[str, Any], fragment: Mapping[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """node with fragment's keywords merged in: `properties` key by key and `items` recursively, `required`
    appended, any other keyword set. A node that refers to a shared definition has the fragment merged into
    that definition (of root, a copy), so the reference stays. Copies along the way; node is left alone."""
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        root["$defs"][name] = _merged(root["$defs"][name], fragment, root)
        return dict(node)
    out = dict(node)
    for key, value in fragment.items():
        if key == "properties":
            props = dict(out.get("properties", {}))
            for name, sub in value.items():
                props[name] = _merged(props.get(name, {}), sub, root)
            out["properties"] = props
        elif key == "items":
            out["items"] = _merged(out.get("items", {}), value, root)
        elif key == "required":
            out["required"] = [*out.get("required", []), *(k for k in value if k not in out.get("required", []))]
        else:
            out[key] = value
    return out


# What data.checks.severity says for every task; each task's branch adds which of its checks are always errors.
SEVERITY = (
    "What a failed check does, by check name: error (the default) fails `ml-ci data check` with exit 3; warn reports "
    "it (report, job summary, a warning annotation) and passes."
)


def severity(task: str) -> dict[str, Any]:
    """data.checks.severity for the task: its names are the task's checks that can warn (its data half's list, in
    run order); the others are always errors. Read when the schema is generated, not by `ml-ci validate`."""
    registered = tasks.get(task).data().checks()
    always = sorted(c.name for c in registered if not c.can_warn)
    listed = ", ".join(always[:-1]) + " and " + always[-1] if len(always) > 1 else "".join(always)
    return {
        "description": SEVERITY + (f" {listed} are always errors: training cannot use such rows." if always else ""),
        "propertyNames": {"enum": [c.name for c in registered if c.can_warn]},
    }


def branch(task: str) -> dict[str, Any]:
    """What ml.yaml holds when its task is `task`: the task's own keys, the metric enums made of its metrics, and
    the names of its data checks that can warn."""
    half = _half(task)
    names = list(metrics(task))
    tune = list(half.TUNE_METRICS)
    gate_metric = {"type": "string", **_metric_names(task, names), "examples": names[:1]}
    made: dict[str, Any] = {
        "properties": {
            "data": {"properties": {"checks": {"properties": {"severity": severity(task)}}}},
            "tune": {
                "properties": {
                    # The example differs from the default, to show a choice.
                    "metric": {"type": "string", "enum": tune, "default": tune[0], "examples": tune[1:2] or tune[:1]},
                    "search_space": {"propertyNames": {"enum": [*SEARCHABLE, *half.TUNABLE]}},
                }
            },
            "evaluate": {
                "properties": {
                    "metrics": {
                        "type": "array",
                        "items": _metric_names(task, names),
                        "uniqueItems": True,
                        "default": list(half.DEFAULT_METRICS),
                        "examples": [names[:2]],
                    },
                    "gates": {"items": {"properties": {"metric": gate_metric}}},
                    "slices": {"items": {"properties": {"gates": {"items": {"properties": {"metric": gate_metric}}}}}},
                }
            },
        }
    }
    if tune[0] in half.LOWER_IS_BETTER:  # its default tuning metric (a loss) is minimized unless ml.yaml says otherwise
        made["properties"]["tune"]["properties"]["direction"] = {"default": "minimize"}
    sections = {"properties": {name: json.loads(json.dumps(section)) for name, section in half.SECTIONS.items()}}
    scratch: dict[str, Any] = {"$defs": {}}
    return _merged(sections, made, scratch)


def _condition(task: str, default: str) -> dict[str, Any]:
    # `properties` holds when the key is absent: only the default task's branch applies to a file without `task`.
    condition: dict[str, Any] = {"properties": {"task": {"const": task}}}
    return condition if task == default else {**condition, "required": ["task"]}


def _placed(base: dict[str, Any], fragment: Mapping[str, Any], root: dict[str, Any]) -> None:
    """Give each key the fragment adds to an object an empty place in base, in place (keys already there stay
    where they are, with what they say)."""
    if "$ref" in base:
        base = root["$defs"][base["$ref"].removeprefix("#/$defs/")]
    for name, sub in fragment.get("properties", {}).items():
        props = base.setdefault("properties", {})
        props.setdefault(name, {})
        _placed(props[name], sub, root)
    if isinstance(fragment.get("items"), Mapping) and isinstance(base.get("items"), dict):
        _placed(base["items"], fragment["items"], root)


Where = tuple[str, ...]  # a key's place: property names, "[]" for a list's items


def _keys(fragment: Mapping[str, Any], at: Where = ()) -> set[Where]:
    """The places of every key the fragment defines."""
    found: set[Where] = set()
    for name, sub in fragment.get("properties", {}).items():
        found |= {(*at, name)} | _keys(sub, (*at, name))
    if isinstance(fragment.get("items"), Mapping):
        found |= _keys(fragment["items"], (*at, "[]"))
    return found


# A fragment with only these keywords adds keys to a generic key (data.checks); any other keyword makes the
# key the task's own (its type, its default, ...).
_MERGING = frozenset({"properties", "required", "items"})


def own_keys(task: str) -> set[Where]:
    """The places of the keys the task defines itself (not those of the generic keys it adds keys to)."""

    def walk(fragment: Mapping[str, Any], at: Where) -> set[Where]:
        if at and set(fragment) - _MERGING:
            return {at}
        found: set[Where] = set()
        for name, sub in fragment.get("properties", {}).items():
            found |= walk(sub, (*at, name))
        if isinstance(fragment.get("items"), Mapping):
            found |= walk(fragment["items"], (*at, "[]"))
        return found

    return walk({"properties": _half(task).SECTIONS}, ())


def only(data: Any, keys: set[Where]) -> Any:
    """ml.yaml's data with nothing but the keys at these places (and the sections and lists that lead to
    them): the task's keys as written, defaults filled in (Config.task_keys)."""
    if isinstance(data, list):
        inner = {where[1:] for where in keys if where[0] == "[]"}
        return [only(item, inner) for item in data]
    out = {}
    for name, value in data.items() if isinstance(data, dict) else ():
        if (name,) in keys:
            out[name] = value
        elif isinstance(value, (dict, list)) and (inner := {w[1:] for w in keys if w[0] == name and len(w) > 1}):
            out[name] = only(value, inner)
    return out


def _put(generic: Any, task: Any) -> Any:
    """generic with task's keys put into it, at the same places (lists item by item)."""
    if isinstance(generic, list) and isinstance(task, list):
        return [_put(g, t) for g, t in zip(generic, task, strict=True)]
    if isinstance(generic, dict) and isinstance(task, dict):
        return {**generic, **{k: _put(generic[k], v) if k in generic else v for k, v in task.items()}}
    return task


def section(config: Config, name: str) -> dict[str, Any]:
    """A section of ml.yaml whole, as the cache keys read it: the generic dataclass's fields with the task's
    keys (Config.task_keys) in their places, and not what load_config derives from them (the typed view a
    section may carry; Train.task_params, the task's tunable values, which are keys of the task's own)."""
    generic = {k: v for k, v in asdict(getattr(config, name)).items() if k not in ("spec", "task_params")}
    merged: dict[str, Any] = _put(generic, config.task_keys.get(name, {}))
    return merged


def without(data: Any, keys: set[Where]) -> Any:
    """ml.yaml's data without the keys at these places (copies along the way): what the generic typed
    Config is built from, the task's keys going into its own typed view (Config.spec)."""
    if isinstance(data, list):
        inner = {where[1:] for where in keys if where[0] == "[]"}
        return [without(item, inner) for item in data] if inner else data
    if not isinstance(data, dict):
        return data
    out = {}
    for name, value in data.items():
        if (name,) in keys:
            continue
        inner = {where[1:] for where in keys if where[0] == name and len(where) > 1}
        out[name] = without(value, inner) if inner else value
    return out


def _refuse(then: dict[str, Any], where: Where, message: str) -> None:
    """Make the key at `where` invalid in a task's branch: the generic section leaves it a place for another task."""
    node = then
    for part in where[:-1]:
        node = node.setdefault("items", {}) if part == "[]" else node.setdefault("properties", {}).setdefault(part, {})
    node.setdefault("properties", {})[where[-1]] = {"description": message, "not": {}}


def generate(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with its task-dependent parts made anew from the registry (the rest as it is)."""
    out: dict[str, Any] = json.loads(json.dumps(schema))
    # The first task of the registry is the default: ml-ci knew only it before `task` chose anything.
    default = out["properties"]["task"]["default"] = tasks.names()[0]
    out["properties"]["task"]["enum"] = list(tasks.names())
    out.pop("allOf", None)
    # Which parameters a search may name depends on the task: each branch says it (`branch`).
    out["properties"]["tune"]["properties"]["search_space"].pop("propertyNames", None)
    branches = {task: branch(task) for task in tasks.names()}
    keys = {task: _keys(then) for task, then in branches.items()}
    # The places each task defines itself: a generic section it adds keys to (train) is not among them.
    owned = {task: own_keys(task) for task in branches}
    entries = []
    for task, then in branches.items():
        _placed(out, then, out)
        # Keys only other tasks have: the generic section accepts them (for those tasks), this task's branch not.
        foreign = set().union(*owned.values()) - keys[task]
        for where in sorted(w for w in foreign if not any(w[:i] in foreign for i in range(1, len(w)))):
            owners = [t for t in branches if where in keys[t]]
            if len(owners) == 1:
                why = f"a key of task {owners[0]}, not of {task}: remove it, or set `task: {owners[0]}`"
            else:
                named = ", ".join(owners[:-1]) + f" and {owners[-1]}"
                why = f"a key of tasks {named}, not of {task}: remove it, or set `task:` to one of them"
            _refuse(then, where, why)
        entries.append({"if": _condition(task, default), "then": then})
    out["allOf"] = entries
    return out


def effective(schema: Mapping[str, Any], task: str) -> dict[str, Any]:
    """The schema as it applies to files of one task: its branch merged into the generic sections and no
    `allOf` left (what the defaults are filled in from and the reference is written from)."""
    out = {k: v for k, v in schema.items() if k != "allOf"}
    out["$defs"] = dict(schema.get("$defs", {}))
    for entry in schema.get("allOf", []):
        if entry["if"]["properties"]["task"]["const"] == task:
            out = _merged(out, entry["then"], out)
    return out


def default_task(schema: Mapping[str, Any]) -> str:
    """The task of a file that names none."""
    task: str = schema["properties"]["task"]["default"]
    return task


def dumps(schema: Mapping[str, Any]) -> str:
    """The schema as schemas/ml.schema.json holds it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
