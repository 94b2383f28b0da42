"""The stage table: each stage of the pipeline declared once (pure data, no heavy imports).

What a stage is named, which ml-ci command runs it and with which options, which files of other
stages it reads and which it writes (`ml_ci.pipeline.layout` artifacts), what its cache key is
built from, and the outputs it sets in $GITHUB_OUTPUT. Derived from it: the plan of `ml-ci run`
(`ml_ci.pipeline.plan`), the composite actions' inputs and outputs (`ml_ci.generate.actions`,
hence actions/*/action.yml and the copies `ml-ci generate` vendors), the outputs the generated
workflows' jobs pass on, and the stage table of docs/architecture.md (`python -m
ml_ci.pipeline.stages docs/architecture.md` rewrites it). tests/unit/pipeline/test_stages.py ties
them to the code: every output a stage's code sets is declared here and exposed by its action.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml_ci.pipeline.layout import (
    BEST_PARAMS,
    DATA_REPORT,
    EVAL_RECORD,
    EXPORT,
    GOLDEN,
    IMAGE_RECORD,
    LINEAGE,
    MODEL,
    MODEL_RECORD,
    TRAIN_METRICS,
    TUNE_REPORT,
    Artifact,
)

# The two outputs of every cached stage (`ml_ci.cache.announce`); `ml-ci run` reads cache-hit.
CACHE_KEY = "cache-key"
CACHE_HIT = "cache-hit"
CACHE_OUTPUTS = {CACHE_KEY: "The stage's content hash.", CACHE_HIT: "true when the result was restored from the stage cache."}


@dataclass(frozen=True)
class Option:
    """A CLI option of the stage's command that its composite action takes as an input of the same meaning:
    a value flag (passed when the input is not empty, always when required), or --x/--no-x when `switch`."""

    input: str  # the action input's name
    flag: str
    description: str
    default: str = ""
    required: bool = False
    switch: bool = False


@dataclass(frozen=True)
class StageSpec:
    name: str  # the stage, its composite action (actions/<name>) and its artifacts folder
    command: tuple[str, ...]  # the ml-ci CLI call, run in the model repository
    summary: str  # one sentence: the composite action's description
    usage: str  # the command line with the options a person uses (docs)
    plan: str = ""  # its line in `ml-ci run`'s plan, formatted with config= (and env=, previous= for deploys)
    reads: tuple[Artifact, ...] = ()  # other stages' files it needs
    reads_if_present: tuple[Artifact, ...] = ()  # and those it uses when they are there
    reads_also: str = ""  # what it reads besides artifacts (data splits, a live environment)
    writes: tuple[Artifact, ...] = ()  # the files of its artifacts folder that later stages read
    writes_also: str = ""  # the rest of what it writes
    cache_inputs: str = ""  # module:function building its cache key's inputs; empty: not cached
    outputs: Mapping[str, str] = field(default_factory=dict)  # $GITHUB_OUTPUT name -> description
    options: tuple[Option, ...] = ()  # CLI options its action takes as inputs
    annotations: bool = True  # the command takes --format github (problems become ::error annotations)
    action: bool = True  # wrapped by a composite action
    code: tuple[str, ...] = ()  # module prefixes of the code that runs it (the outputs test reads their set_output calls)

    @property
    def cached(self) -> bool:
        return bool(self.cache_inputs)


STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        name="validate",
        command=("validate",),
        summary="Validate ml.yaml (the setup action runs it with annotations).",
        usage="ml-ci validate [PATH]",
        plan="validate ml.yaml",
        reads_also="ml.yaml",
        action=False,
        code=("ml_ci.cli.validate", "ml_ci.config"),
    ),
    StageSpec(
        name="data-check",
        command=("data", "check"),
        summary="Test the data splits (`ml-ci data check`): schema, sizes, leakage, drift.",
        usage="ml-ci data check [--no-cache]",
        plan="test the data",
        reads_also="data splits",
        writes=(DATA_REPORT,),
        writes_also="`data-check/report.md`",
        cache_inputs="ml_ci.data.cache_inputs:check_inputs",
        outputs={"fingerprint": "Content fingerprint of the data.", **CACHE_OUTPUTS},
        code=("ml_ci.data", "ml_ci.cli.data"),
    ),
    StageSpec(
        name="tune",
        command=("tune",),
        summary="Search hyperparameters with Optuna (`ml-ci tune`); workers sharing one storage join one study.",
        usage="ml-ci tune [--trials K] [--workers N] [--timeout-minutes M] [--no-cache]",
        plan="Optuna study, {config.tune.trials} trials",
        reads_also="data splits",
        writes=(BEST_PARAMS, TUNE_REPORT),
        writes_also="`tune/report.md`, `tune/*.png`",
        cache_inputs="ml_ci.tune.cached:cache_inputs",
        outputs={"best-value": "Best objective value found.", **CACHE_OUTPUTS},
        options=(
            Option("trials", "--trials", "Trials for this worker (empty: tune.trials)."),
            Option("workers", "--workers", "Parallel workers in this process (empty: tune.workers)."),
        ),
        code=("ml_ci.tune", "ml_ci.cli.tune"),
    ),
    StageSpec(
        name="train",
        command=("train",),
        summary="Fine-tune the model (`ml-ci train`), restoring it from the stage cache when nothing it depends on changed.",
        usage="ml-ci train [--params FILE] [--resume] [--no-cache] [--emit-k8s FILE]",
        plan="fine-tune {config.model.base}",
        reads_if_present=(BEST_PARAMS,),
        reads_also="data splits (train, validation)",
        writes=(MODEL, TRAIN_METRICS, LINEAGE),
        writes_also="`train/README.md`; checkpoints in `.ml-ci/work/train/` until it succeeds",
        cache_inputs="ml_ci.train.lineage:cache_inputs",
        outputs={
            "model-digest": "sha256 of the trained model's files.",
            CACHE_KEY: CACHE_OUTPUTS[CACHE_KEY],
            CACHE_HIT: "true when the model came from the cache.",
        },
        options=(Option("params", "--params", "best_params.json from a tuning run (empty: the params in ml.yaml)."),),
        annotations=False,
        code=("ml_ci.train", "ml_ci.cli.train"),
    ),
    StageSpec(
        name="evaluate",
        command=("evaluate",),
        summary="Evaluate the model and check the quality gates (`ml-ci evaluate`); fails (exit 4) naming each failed gate.",
        usage="ml-ci evaluate [--model DIR] [--baseline FILE] [--gitops-dir DIR] [--main-baseline PATH] [--no-cache]",
        plan="evaluate and check gates",
        reads=(MODEL,),
        reads_if_present=(TRAIN_METRICS, LINEAGE),
        reads_also="test split (or validation), baselines",
        writes=(EVAL_RECORD,),
        writes_also="`evaluate/report.md` and its plots",
        cache_inputs="ml_ci.evaluate.cache_inputs:cache_inputs",
        outputs={"verdict": "pass or fail.", **CACHE_OUTPUTS},
        options=(
            Option("baseline", "--baseline", "eval.json of the baseline for relative gates (empty: none)."),
            Option("gitops-dir", "--gitops-dir", "A checkout of the GitOps repository, for `against: production` (empty: none)."),
            Option(
                "main-baseline",
                "--main-baseline",
                "eval.json (or its folder) of the latest evaluation on main, for `against: main` (empty: none).",
            ),
        ),
        code=("ml_ci.evaluate", "ml_ci.cli.evaluate"),
    ),
    StageSpec(
        name="report",
        command=("report",),
        summary="Post the pipeline's report as one sticky PR comment and a commit status (`ml-ci report`).",
        usage="ml-ci report [--pr N] [--repo OWNER/NAME] [--sha SHA] [--github-url URL] [--no-post]",
        reads=(EVAL_RECORD,),
        reads_if_present=(DATA_REPORT, TUNE_REPORT, TRAIN_METRICS),
        writes_also="`.ml-ci/report/` (report.md, PNGs), one sticky PR comment, a commit status",
        options=(Option("pr", "--pr", "Pull request number (empty: no comment)."),),
        code=("ml_ci.report", "ml_ci.cli.report"),
    ),
    StageSpec(
        name="export",
        command=("export",),
        summary="Export the trained model to ONNX with a parity check (`ml-ci export`).",
        usage="ml-ci export [--no-cache]",
        plan="package as {config.package.format}",
        reads=(MODEL,),
        reads_if_present=(LINEAGE, EVAL_RECORD),
        reads_also="validation and test splits",
        writes=(EXPORT, MODEL_RECORD, GOLDEN),
        writes_also="`export/model.onnx`, tokenizer, `export/parity.json`",
        cache_inputs="ml_ci.export.cache_inputs:cache_inputs",
        outputs={"model-sha256": "sha256 of the exported model.", **CACHE_OUTPUTS},
        annotations=False,
        code=("ml_ci.export", "ml_ci.cli.export"),
    ),
    StageSpec(
        name="build",
        command=("build",),
        summary="Build, verify and push the serving image by digest (`ml-ci build`).",
        usage="ml-ci build [--push] [--tag T] [--no-cache]",
        plan="build, verify and push the serving image",
        reads=(EXPORT, MODEL_RECORD, GOLDEN),
        reads_if_present=(EVAL_RECORD, LINEAGE, DATA_REPORT),
        writes=(IMAGE_RECORD,),
        outputs={"image": "Image reference with its digest.", "digest": "Image digest (sha256:...)."},
        options=(
            Option("push", "--push", "Push the image to the registry.", default="true", switch=True),
            Option("tag", "--tag", "Extra tag for the image (empty: none)."),
        ),
        annotations=False,
        code=("ml_ci.build", "ml_ci.cli.build"),
    ),
    StageSpec(
        name="deploy",
        command=("deploy",),
        summary="Deploy the image to one environment and smoke-test it (`ml-ci deploy`).",
        usage="ml-ci deploy --env NAME [--image REF@DIGEST]",
        plan="deploy to {env} and smoke-test",
        reads=(IMAGE_RECORD, EVAL_RECORD),
        reads_if_present=(GOLDEN, MODEL_RECORD),
        writes_also="a GitOps commit, or applied manifests (nothing for a digest already live); `.ml-ci/state/<env>/`",
        outputs={
            "digest": "Digest now live in the environment.",
            "image": "Image reference now live in the environment.",
            "changed": "false when that digest already ran there (nothing committed or applied).",
        },
        options=(
            Option("environment", "--env", "Environment name from ml.yaml.", required=True),
            Option("image", "--image", "Image reference with digest (empty: build/image.json)."),
        ),
        code=("ml_ci.deploy", "ml_ci.cli.deploy"),
    ),
    StageSpec(
        name="promote",
        command=("promote",),
        summary="Promote the live digest of one environment to the next (`ml-ci promote`).",
        usage="ml-ci promote --from A --to B",
        plan="promote {previous} -> {env}",
        reads_also="the live record of A",
        writes_also="the same in B (nothing when B already runs it)",
        outputs={
            "digest": "Digest now live in the target environment.",
            "image": "Image reference now live in the target environment.",
            "changed": "false when that digest already ran there (nothing committed or applied).",
        },
        options=(
            Option("from", "--from", "Environment to promote from.", required=True),
            Option("to", "--to", "Environment to promote to.", required=True),
        ),
        # promote reports through deploy's report function.
        code=("ml_ci.deploy", "ml_ci.cli.promote", "ml_ci.cli.deploy"),
    ),
)

BY_NAME = {stage.name: stage for stage in STAGES}


def get(name: str) -> StageSpec:
    return BY_NAME[name]


def _code(items: tuple[str, ...]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def docs_table() -> str:
    """The table of docs/architecture.md: one row per stage that has a composite action."""
    rows = ["| command | reads | writes (under .ml-ci/artifacts) | outputs | cache key |", "| --- | --- | --- | --- | --- |"]
    for stage in STAGES:
        if not stage.action:
            continue
        reads = [
            *([stage.reads_also] if stage.reads_also else []),
            *(f"`{a}`" for a in stage.reads),
            *(f"`{a}` when present" for a in stage.reads_if_present),
        ]
        writes = [*(f"`{a}`" for a in stage.writes), *([stage.writes_also] if stage.writes_also else [])]
        cache = f"`{stage.cache_inputs}`" if stage.cached else "not cached"
        rows.append(f"| `{stage.usage}` | {', '.join(reads)} | {', '.join(writes)} | {_code(tuple(stage.outputs))} | {cache} |")
    return "\n".join(rows) + "\n"


BEGIN = (
    "<!-- stage table: generated by `python -m ml_ci.pipeline.stages docs/architecture.md` from ml_ci/pipeline/stages.py -->\n"
)
END = "<!-- end of the stage table -->\n"


def with_docs_table(text: str) -> str:
    """text (docs/architecture.md) with the generated table between BEGIN and END."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + docs_table() + text[end:]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from ml_ci.atomic import write_text

    path = Path(args[0] if args else "docs/architecture.md")
    write_text(path, with_docs_table(path.read_text(encoding="utf-8")))
    print(f"wrote the stage table into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
