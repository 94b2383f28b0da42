"""Rules the schema cannot say: cross-references, orderings, and paths inside the repository."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml_ci import tasks
from ml_ci.config import by_task
from ml_ci.config.gitops_remote import ALLOW_HTTP_ENV, in_repository, may_exist_elsewhere, missing_repository
from ml_ci.config.model import GENERATION_LIMITS
from ml_ci.config.paths import URL, escapes_through_link, outside_reason
from ml_ci.config.yamlfile import Document
from ml_ci.errors import Problem

PACKAGE_PREFIX = "package:"
# monitoring keys that alert on token metrics (ConfigHalf.TOKEN_METRICS says whether a task's server has them).
TOKEN_ALERTS = ("time_to_first_token_p95_ms", "min_tokens_per_second")

# Keys of an environment that only a Kubernetes Deployment reads: kind: local runs one container on this machine.
KUBERNETES_ONLY = {
    "replicas": "runs one container",
    "autoscale": "runs one container and scales nothing",
    "resources": "sets no container resources",
    "namespace": "has no namespace",
}


def _inside(doc: Document, root: Path, path: tuple[Any, ...], value: str, what: str) -> Problem | None:
    if (reason := outside_reason(value, what)) is not None:
        return doc.problem(path, reason)
    if escapes_through_link(root, value):
        return doc.problem(path, f"{value!r} resolves outside the repository through a symbolic link; {what} must stay inside it")
    return None


def _out_of_range(
    doc: Document, at: tuple[Any, ...], gate: dict[str, Any], ranges: Callable[[str], tuple[float, float, bool]]
) -> Problem | None:
    """The gate's min or max lies where its metric can never be (ranges: by_task.metric_range): no model could pass it."""
    metric = gate["metric"]
    low, high, low_occurs = ranges(metric)
    span = f"between {low:g} and {high:g}" if math.isfinite(high) else f"greater than {low:g}"
    always = "" if math.isfinite(high) else "always "
    if "min" in gate and gate["min"] > high:
        fix = " (a fraction: 0.9 for 90%)" if high == 1 and gate["min"] <= 100 else ""
        return doc.problem(
            (*at, "min"),
            f"{metric} is {always}{span}, so min {gate['min']} can never be reached: "
            f"no model could pass this gate; write a min {span}{fix}",
        )
    if "max" in gate and (gate["max"] < low or (gate["max"] == low and not low_occurs)):
        return doc.problem(
            (*at, "max"),
            f"{metric} is {always}{span}, so max {gate['max']} can never be met: "
            f"no model could pass this gate; write a max {span}",
        )
    return None


def _ignored_on_local(doc: Document, i: int, written: dict[str, Any], gitops: bool) -> list[Problem]:
    """Keys written on a `kind: local` environment that it would not apply: said, never ignored in silence.
    approval: true is applied where the release record lives in a GitOps repository (the review branch goes
    there, its merge is the approval); without one there is no review step, so it is refused."""
    at = ("deploy", "environments", i)
    out = [
        doc.problem(
            (*at, key), f"kind: local {what}: {key} is not applied here; remove it, or use kind: kubernetes", severity="warning"
        )
        for key, what in KUBERNETES_ONLY.items()
        if key in written and not (key == "replicas" and written[key] == 1)
    ]
    if written.get("approval") is True and not gitops:
        out.append(
            doc.problem(
                (*at, "approval"),
                "kind: local without deploy.gitops has no review step: approval: true "
                "could not be applied, and promotion to this environment would not wait; add deploy.gitops "
                "(deploy then pushes a review branch, and its merge is the approval), or remove it and "
                "require reviewers on its GitHub environment (docs/github-setup.md)",
            )
        )
    return out


def check(doc: Document, data: dict[str, Any], root: Path) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    task = data["task"]
    # A gate whose min is above the highest value of its metric, or whose max is below the lowest, fails every
    # model, so it is refused here, not after training.
    ranges = functools.partial(by_task.metric_range, task)

    d = data["data"]
    files = [k for k in ("train", "validation", "test", "reference") if k in d]
    if "hub" in d and files:
        add(doc.problem(("data", "hub"), f"give either data.hub or data files ({', '.join(files)}), not both"))
    # Without data.validation, part of train is held out (ml_ci.data.split): only train is required.
    if "hub" not in d and "train" not in d:
        add(doc.problem(("data",), "missing required key 'train' (or set data.hub)"))
    for key in files:
        if not isinstance(d[key], str):  # data.validation: {split_from: train}
            continue
        if (p := _inside(doc, root, ("data", key), d[key], f"data.{key}")) is not None:
            add(p)
        elif not (root / d[key]).exists():
            add(doc.problem(("data", key), f"{d[key]!r} does not exist (yet)", severity="warning"))

    base = data["model"]["base"]
    if URL.match(base):
        add(
            doc.problem(
                ("model", "base"),
                f"{base!r} is a URL; use a hub id (org/name), a folder inside the repository, "
                f"or {PACKAGE_PREFIX}<module>/<folder> for a model shipped in a Python package",
            )
        )
    else:
        # A folder rather than a hub id (org/name) must stay inside the repository.
        looks_local = base.startswith((".", "/", "~")) or (os.sep in base and (root / base).exists())
        folder = looks_local and not base.startswith(PACKAGE_PREFIX)
        if folder and (p := _inside(doc, root, ("model", "base"), base, "model.base")) is not None:
            add(p)

    metrics = data["evaluate"]["metrics"]

    def gate_checks(gates: list[dict[str, Any]], where: tuple[Any, ...], relative_ok: bool) -> None:
        for i, gate in enumerate(gates):
            at = (*where, i)
            if gate["metric"] not in metrics:
                add(doc.problem((*at, "metric"), f"{gate['metric']!r} is not computed: add it to evaluate.metrics"))
            if not any(k in gate for k in ("min", "max", "against")):
                add(doc.problem(at, "this gate checks nothing: give min, max, or against with max_drop"))
            if "min" in gate and "max" in gate and gate["min"] > gate["max"]:
                add(
                    doc.problem(
                        (*at, "min"), f"min {gate['min']} is greater than max {gate['max']}: no model could pass this gate"
                    )
                )
            if (p := _out_of_range(doc, at, gate, ranges)) is not None:
                add(p)
            if "against" in gate:
                if not relative_ok:
                    add(
                        doc.problem((*at, "against"), "slice gates are absolute (there is no baseline per slice); use min or max")
                    )
                elif "max_drop" not in gate:
                    add(
                        doc.problem(
                            at,
                            "a gate with 'against' needs 'max_drop', the largest drop from the baseline it allows (such as 0.01)",
                        )
                    )
            else:
                for k in ("max_drop", "significance"):
                    if k in gate:
                        add(doc.problem((*at, k), f"'{k}' only applies with 'against' (production or main)"))

    gate_checks(data["evaluate"]["gates"], ("evaluate", "gates"), True)
    slice_names: dict[str, int] = {}
    for i, sl in enumerate(data["evaluate"]["slices"]):
        at = ("evaluate", "slices", i)
        if sl["name"] in slice_names:
            first = slice_names[sl["name"]]
            add(doc.problem((*at, "name"), f"slice name {sl['name']!r} is already used by evaluate.slices[{first}]"))
        slice_names.setdefault(sl["name"], i)
        if ("column" in sl) == ("length" in sl):
            add(
                doc.problem(
                    at, "a slice needs exactly one of 'column' or 'length': keep one, and make the other a slice of its own"
                )
            )
        derived = tasks.get(task).config().SLICE_COLUMNS  # the task makes them for every example
        if "column" in sl and sl["column"] not in d.get("slice_columns", []) and sl["column"] not in derived:
            listed = ", ".join(d.get("slice_columns", [])) or "none yet"
            add(
                doc.problem(
                    (*at, "column"),
                    f"{sl['column']!r} is not listed in data.slice_columns ({listed}); add it there so the column is loaded",
                )
            )
        if "length" in sl and "max" in sl["length"] and sl["length"]["max"] <= sl["length"].get("min", 0):
            low, high = sl["length"].get("min", 0), sl["length"]["max"]
            add(doc.problem((*at, "length", "max"), f"max {high} must be greater than min {low}: the slice would be empty"))
        gate_checks(sl.get("gates", []), (*at, "gates"), False)

    tune = data["tune"]
    if tune["metric"] not in metrics:
        add(doc.problem(("tune", "metric"), f"{tune['metric']!r} is not computed: add it to evaluate.metrics"))
    if tune["enabled"] and not tune["search_space"]:
        add(
            doc.problem(
                ("tune", "search_space"),
                "tuning is enabled but the search space is empty: add a parameter such as "
                "`learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}`, or set tune.enabled: false",
            )
        )
    for name, param in tune["search_space"].items():
        at = ("tune", "search_space", name)
        if param["type"] in ("float", "int"):
            if param["low"] >= param["high"]:
                add(doc.problem((*at, "low"), f"low {param['low']} must be less than high {param['high']}"))
            if param.get("log") and param["low"] <= 0:
                add(doc.problem((*at, "log"), f"a log scale needs low > 0 (low is {param['low']})"))
            if param.get("log") and "step" in param:
                add(doc.problem((*at, "step"), "step cannot be combined with a log scale: remove step, or set log: false"))
        elif len(param["choices"]) == 1:
            add(doc.problem((*at, "choices"), "only one choice: nothing to tune", severity="warning"))
    stepless = [name for name, p in tune["search_space"].items() if p["type"] == "float" and "step" not in p]
    if tune["sampler"] == "grid" and stepless:
        add(
            doc.problem(
                ("tune", "sampler"),
                f"the grid sampler needs a 'step' on every float parameter (missing on: {', '.join(stepless)})",
            )
        )

    dist = data["train"]["distributed"]
    if dist["nodes"] > 1 and dist["nproc_per_node"] < 1:
        add(doc.problem(("train", "distributed"), "nodes > 1 needs nproc_per_node >= 1"))
    problems.extend(tasks.get(task).config().check(data, doc.problem))  # the rules across the task's own keys
    # Keys only a server that generates tokens reads: an alert on a metric it never exports would never fire, a
    # limit would be taken and ignored. Refused, never accepted in silence.
    if not tasks.get(task).config().TOKEN_METRICS:
        having = " or ".join(t for t in tasks.names() if tasks.get(t).config().TOKEN_METRICS)
        for section, keys, why in (
            (
                "monitoring",
                TOKEN_ALERTS,
                f"measures no generated tokens: this alert could never fire (only a {having} server exports its metric)",
            ),
            ("serve", GENERATION_LIMITS, f"generates no tokens, so it would ignore this limit (only a {having} server reads it)"),
        ):
            for key in (k for k in keys if k in (data.get(section) or {})):
                add(doc.problem((section, key), f"a {task} server {why}; remove it", key=True))

    platforms = (data.get("image") or {}).get("platforms") or []
    if len(platforms) > 1:
        # Never accept and ignore: the build makes one image, for the Docker engine's own platform.
        add(
            doc.problem(
                ("image", "platforms"),
                f"{', '.join(platforms)}: multi-platform images are not built yet "
                "(ml-ci builds one image, for the Docker engine's own platform, with no buildx or emulator); "
                "list that one platform, e.g. [linux/amd64]",
                key=True,
            )
        )

    if "deploy" in data:
        dep = data["deploy"]
        seen: dict[str, int] = {}
        for i, env in enumerate(dep["environments"]):
            if env["name"] in seen:
                add(
                    doc.problem(
                        ("deploy", "environments", i, "name"),
                        f"environment {env['name']!r} is already defined at deploy.environments[{seen[env['name']]}]; "
                        "give each environment its own name",
                    )
                )
            seen.setdefault(env["name"], i)
            if env["kind"] == "local":
                problems.extend(_ignored_on_local(doc, i, doc.data["deploy"]["environments"][i], bool(dep.get("gitops"))))
            elif doc.data["deploy"]["environments"][i].get("approval") is True and dep.get("strategy", "gitops") == "apply":
                # Server-side apply goes straight to the cluster: no review branch to wait on. Never accept and ignore.
                add(
                    doc.problem(
                        ("deploy", "environments", i, "approval"),
                        "deploy.strategy: apply has no review step: "
                        "approval: true could not be applied, and promotion to this environment would not wait; "
                        "use deploy.strategy: gitops (deploy then pushes a review branch, and its merge is the "
                        "approval), or remove it and require reviewers on its GitHub environment "
                        "(docs/github-setup.md)",
                    )
                )
            auto = env.get("autoscale")
            if auto and auto["min_replicas"] > auto["max_replicas"]:
                add(
                    doc.problem(
                        ("deploy", "environments", i, "autoscale", "min_replicas"),
                        f"min_replicas {auto['min_replicas']} is greater than max_replicas {auto['max_replicas']}",
                    )
                )
        kube = [e for e in dep["environments"] if e["kind"] == "kubernetes"]
        if kube and dep["strategy"] == "gitops" and "gitops" not in dep:
            add(
                doc.problem(
                    ("deploy",),
                    "strategy is gitops (the default) but there is no gitops section: "
                    "add deploy.gitops with repo and path, or set deploy.strategy: apply",
                )
            )
        gitops = dep.get("gitops")
        missing = (
            missing_repository(gitops["repo"], root, bool(gitops.get("create", False)))
            if gitops and dep.get("strategy", "gitops") == "gitops"
            else None
        )
        if missing is not None:
            add(
                doc.problem(
                    ("deploy", "gitops", "repo"),
                    missing,
                    severity="warning" if may_exist_elsewhere(gitops["repo"], root) else "error",
                )
            )
        elif (
            dep["environments"]
            and dep.get("strategy", "gitops") == "gitops"
            and gitops
            and in_repository(gitops["repo"], root) is not None
        ):
            add(
                doc.problem(
                    ("deploy", "gitops", "repo"),
                    f"{gitops['repo']!r} is a GitOps repository on disk inside the "
                    "model repository: on GitHub it lives only within one workflow run (the release workflow "
                    "passes it from job to job) and is gone after; use owner/name or a URL for real deployments",
                    severity="warning",
                )
            )
        if (
            gitops
            and dep.get("strategy", "gitops") == "gitops"
            and gitops["repo"].lower().startswith("http://")
            and not gitops.get("allow_insecure_http", False)
        ):
            add(
                doc.problem(
                    ("deploy", "gitops", "repo"),
                    "a plain http:// remote: deploy refuses to send the token "
                    f"there unencrypted unless deploy.gitops.allow_insecure_http: true (or {ALLOW_HTTP_ENV}=1); "
                    "use https://",
                    severity="warning",
                )
            )
        if "repository" not in data["image"]:
            add(
                doc.problem(
                    ("deploy",),
                    "needs image.repository, where the serving image is pushed: add `image: {repository: <owner>/<name>}`",
                )
            )
    problems.extend(_supply_chain(doc, data, root))
    problems.extend(_lock_input(doc, data, root, "constraints", "a pip constraints file (lines like `numpy<2`)"))
    problems.extend(_lock_input(doc, data, root, "requirements", "a pip requirements file (lines like `tokenizers==0.20.3`)"))
    return problems


def _lock_input(doc: Document, data: dict[str, Any], root: Path, key: str, what_it_is: str) -> list[Problem]:
    """ci.constraints and ci.requirements are read by `ml-ci lock` and hashed into the locks' headers: files of the
    repository."""
    value = data["ci"].get(key)
    if value is None:
        return []
    at = ("ci", key)
    if (p := _inside(doc, root, at, value, f"ci.{key}")) is not None:
        return [p]
    path = root / value
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a file that exists"
        return [doc.problem(at, f"{value!r} is {what}; ci.{key} names {what_it_is}")]
    return []


def _supply_chain(doc: Document, data: dict[str, Any], root: Path) -> list[Problem]:
    """supply_chain.public_key is what every verification trusts: a committed file of the repository, never a
    path that leads elsewhere (where whoever controls that machine could swap the key)."""
    section = data.get("supply_chain")
    if section is None:
        return []
    at = ("supply_chain", "public_key")
    key = section["public_key"]
    if (p := _inside(doc, root, at, key, "supply_chain.public_key")) is not None:
        return [p]
    path = root / key
    if path.is_dir():
        return [doc.problem(at, f"{key!r} is a folder; public_key is the PEM file of the signing key's public half")]
    if not path.is_file():
        return [
            doc.problem(
                at,
                f"{key!r} does not exist; commit the PEM public key of the key in ${section['signing_key_env']} "
                "there (deploy, promote and `ml-ci verify` check signatures with it)",
            )
        ]
    return []
