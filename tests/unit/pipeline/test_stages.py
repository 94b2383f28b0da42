"""The stage table ties the pipeline together: what a stage's code sets in $GITHUB_OUTPUT is what the
table declares and what its composite action exposes; the files it reads are written by an earlier
stage; the plan, the actions and the docs derive from it."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from ml_ci import cache
from ml_ci.cli.main import COMMANDS
from ml_ci.config import load_config
from ml_ci.generate import jobs
from ml_ci.generate.actions import all_actions
from ml_ci.generate.model import Workflow
from ml_ci.generate.reusable import pipeline_workflow
from ml_ci.generate.workflows import pr_workflow, release_workflow
from ml_ci.generate.yamlout import Commented
from ml_ci.pipeline import layout, stages
from ml_ci.pipeline.layout import IN_REPO
from ml_ci.pipeline.plan import plan
from tests.conftest import EXAMPLE, ROOT
from tests.golden.variants import GOLDEN, options_for

PACKAGE = ROOT / "ml_ci"
# The two modules that hold the output machinery itself rather than a stage's outputs.
MACHINERY = {"ml_ci.github.actions_io", "ml_ci.cache"}


def announced(tmp_path: Path) -> set[str]:
    """The outputs `ml_ci.cache.announce` sets, recorded by running it."""
    record = tmp_path / "outputs"
    record.touch()
    cache.announce(cache.Cached("s", "k", cache.Mode.ON, True), {"GITHUB_OUTPUT": str(record)}, echo=lambda _: None)
    return {line.split("=", 1)[0] for line in record.read_text(encoding="utf-8").splitlines()}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def outputs_set_in_code(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(module, output name) for every set_output call with a literal name, and announce's outputs
    wherever a module calls it."""
    cached = announced(tmp_path)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module in MACHINERY:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            if _called(node) == "set_output":
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{module}:{node.lineno}: set_output with a computed name; the stage table cannot check it"
                )
                yield module, first.value
            elif _called(node) == "announce":
                yield from ((module, name) for name in sorted(cached))


def in_code(stage: stages.StageSpec, module: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in stage.code)


def test_announce_sets_the_cache_outputs(tmp_path: Path) -> None:
    assert announced(tmp_path) == {stages.CACHE_KEY, stages.CACHE_HIT}


def test_every_output_a_stage_sets_is_declared_and_only_those(tmp_path: Path) -> None:
    found = list(outputs_set_in_code(tmp_path))
    assert found, "no set_output call found: the scan is broken"
    for module, _ in found:
        assert any(in_code(s, module) for s in stages.STAGES), f"{module} sets outputs but is no stage's code (stages.py: code)"
    for stage in stages.STAGES:
        emitted = {name for module, name in found if in_code(stage, module)}
        assert emitted == set(stage.outputs), (
            f"{stage.name}: its code sets {sorted(emitted)}, the table says {sorted(stage.outputs)}"
        )
        assert stage.cached == (stages.CACHE_KEY in emitted), stage.name


def test_each_action_exposes_its_stage_outputs_and_takes_its_options() -> None:
    actions = all_actions()
    for stage in stages.STAGES:
        if not stage.action:
            assert stage.name not in actions
            continue
        action = actions[stage.name]
        for name in stage.outputs:
            assert name in action.outputs, f"actions/{stage.name} does not expose {name}"
            if name != stages.CACHE_HIT or stage.name != "train":  # train's: whether GitHub's cache restored it
                assert action.outputs[name].value == f"${{{{ steps.run.outputs.{name} }}}}", (stage.name, name)
        run = next(s for s in action.steps if s.id == "run")
        assert run.run is not None and f"ml-ci {' '.join(stage.command)} " in run.run
        for option in stage.options:
            assert option.input in action.inputs, (stage.name, option.input)
            assert action.inputs[option.input].required == option.required
            assert option.flag in run.run, (stage.name, option.flag)


def test_every_artifact_is_written_by_its_stage_and_read_only_after_it() -> None:
    written: dict[layout.Artifact, str] = {}
    for stage in stages.STAGES:
        for artifact in (*stage.reads, *stage.reads_if_present):
            assert artifact in written, f"{stage.name} reads {artifact}, which no stage before it writes"
        for artifact in stage.writes:
            assert artifact.stage == stage.name and artifact not in written, artifact
            written[artifact] = stage.name
    assert set(written) == set(layout.ARTIFACTS), "every file that crosses a stage boundary is some stage's output"


def test_every_artifact_has_a_layout_property() -> None:
    here = layout.Layout(Path("repo"))
    properties = {getattr(here, name) for name, value in vars(layout.Layout).items() if isinstance(value, property)}
    for artifact in layout.ARTIFACTS:
        assert artifact.stage in layout.STAGES
        assert here.path(artifact) in properties, f"no Layout property for {artifact}"
    assert here.eval_record == Path("repo/.ml-ci/artifacts/evaluate/eval.json")
    assert layout.EVAL_RECORD.within(Path("tmp")) == Path("tmp/eval.json")
    assert (str(layout.MODEL), str(layout.EXPORT), str(layout.GOLDEN)) == ("train/model/", "export/", "export/golden.json")


def test_cache_inputs_name_a_function_of_the_stage() -> None:
    for stage in stages.STAGES:
        if not stage.cached:
            continue
        module, function = stage.cache_inputs.split(":")
        assert in_code(stage, module), stage.name
        spec = importlib.util.find_spec(module)  # found without importing it (torch stays unloaded)
        assert spec is not None and spec.origin is not None, module
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        assert any(isinstance(n, ast.FunctionDef) and n.name == function for n in tree.body), stage.cache_inputs


def test_the_plan_runs_the_table_commands_in_table_order() -> None:
    planned = plan(load_config(EXAMPLE).config)
    order = [s.name for s in stages.STAGES]
    kinds = [s.name.split("-")[0] if s.name.startswith(("deploy-", "promote-")) else s.name for s in planned]
    assert kinds == sorted(kinds, key=order.index)
    for step, kind in zip(planned, kinds, strict=True):
        spec = stages.get(kind)
        assert step.command[: len(spec.command)] == spec.command
        assert step.description and "{" not in step.description


def _click_command(command: tuple[str, ...]) -> click.Command:
    found: click.Command = importlib.import_module(COMMANDS[command[0]][0]).command
    for sub in command[1:]:
        assert isinstance(found, click.Group)
        found = found.commands[sub]
    return found


def test_usage_and_options_are_the_commands_own() -> None:
    for stage in stages.STAGES:
        assert stage.usage.startswith(f"ml-ci {' '.join(stage.command)}"), stage.name
        flags = {opt for param in _click_command(stage.command).params for opt in (*param.opts, *param.secondary_opts)}
        for flag in (*re.findall(r"--[a-z][a-z0-9-]*", stage.usage), *(o.flag for o in stage.options)):
            assert flag in flags, f"{stage.name}: ml-ci {' '.join(stage.command)} has no option {flag}"
        for option in stage.options:
            assert option.flag in stage.usage, f"{stage.name}: the usage leaves out {option.flag}"
        if stage.action and stage.annotations:
            assert "--format" in flags, f"{stage.name}: its action passes --format github"


def test_a_job_passes_on_only_what_its_stage_sets() -> None:
    assert jobs.passed_on("build", "b", "image") == {"image": "${{ steps.b.outputs.image }}"}
    with pytest.raises(ValueError, match="stage build sets no output verdict"):
        jobs.passed_on("build", "b", "verdict")


def _workflows() -> Iterator[tuple[str, Workflow]]:
    yield "ml-pipeline.yml", pipeline_workflow()
    for folder in sorted(p.parent for p in GOLDEN.glob("*/ml.yaml")):
        config = load_config(folder / "ml.yaml").config
        yield f"{folder.name} ml-pr.yml", pr_workflow(config, options_for(folder))
        yield f"{folder.name} ml-release.yml", release_workflow(config, options_for(folder))


def test_workflows_pass_each_action_only_its_inputs() -> None:
    actions = all_actions()
    checked = 0
    for where, workflow in _workflows():
        for job in workflow.jobs:
            for step in job.steps:
                uses = step.uses.value if isinstance(step.uses, Commented) else step.uses
                name = str(uses or "").split("@")[0].rstrip("/").rsplit("/", 1)[-1]
                if "ml-ci" not in str(uses) or name not in actions:
                    continue
                unknown = set(step.with_) - set(actions[name].inputs)
                assert not unknown, f"{where} {job.id}: {name} has no input {unknown}"
                checked += 1
    assert checked > 50


def test_each_job_downloads_what_its_stage_needs_from_earlier_stages() -> None:
    """A stage's required reads come from other jobs' uploads (what it reads when present may be absent)."""
    folders = {IN_REPO.artifacts(name).as_posix(): name for name in layout.STAGES}
    checked = 0
    for where, workflow in _workflows():
        for job in workflow.jobs:
            downloaded = {folders.get(str(s.with_.get("path"))) for s in job.steps if "download-artifact" in str(s.uses)}
            for step in job.steps:
                uses = step.uses.value if isinstance(step.uses, Commented) else step.uses
                name = str(uses or "").split("@")[0].rstrip("/").rsplit("/", 1)[-1]
                if "ml-ci" not in str(uses) or name not in stages.BY_NAME:
                    continue
                needed = {a.stage for a in stages.get(name).reads} - {name}
                assert needed <= downloaded, (
                    f"{where} {job.id}: {name} reads {needed - downloaded}, which the job does not download"
                )
                checked += needed != set()
    assert checked > 20


def test_docs_table_is_generated_from_the_table() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert stages.with_docs_table(text) == text, "run python -m ml_ci.pipeline.stages docs/architecture.md"
