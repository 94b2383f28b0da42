"""The composite actions in actions/<name>/action.yml, as data.

Each wraps one `ml-ci` command exactly as docs/architecture.md specifies: `-c CONFIG`, the
stage's artifacts under .ml-ci/artifacts/<stage>/, outputs through $GITHUB_OUTPUT (written by
the command itself). Inputs reach the script only through `env:` and are used as "$VAR", so an
input can never become shell code. `python -m ml_ci.generate.bundled` rewrites the files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ml_ci import __version__
from ml_ci.cache import MANIFEST
from ml_ci.generate import pins
from ml_ci.generate.model import CompositeAction, Input, Output, Step

CONFIG_INPUT = Input(description="Path to ml.yaml, relative to the workspace.", default="ml.yaml")


@dataclass(frozen=True)
class Arg:
    """A CLI option fed from an action input: a value flag, or --x/--no-x when `switch` is set."""

    input: str
    flag: str
    required: bool = False
    switch: bool = False


def env_name(input_name: str) -> str:
    return "ML_CI_" + input_name.upper().replace("-", "_")


def cli_script(command: tuple[str, ...], args: tuple[Arg, ...], *, annotations: bool = False) -> str:
    """A bash script that calls ml-ci with every value quoted: an argument array, never eval.

    annotations: the command takes --format github, so its problems become ::error annotations.
    """
    lines = ["set -euo pipefail", 'args=(-c "$ML_CI_CONFIG"' + (" --format github)" if annotations else ")")]
    for arg in args:
        var = env_name(arg.input)
        if arg.switch:
            lines.append(f'if [ "${var}" = "true" ]; then args+=({arg.flag}); else args+=(--no-{arg.flag[2:]}); fi')
        elif arg.required:
            lines.append(f'args+=({arg.flag} "${var}")')
        else:
            lines.append(f'if [ -n "${var}" ]; then args+=({arg.flag} "${var}"); fi')
    lines.append(f'ml-ci {" ".join(command)} "${{args[@]}}"')
    return "\n".join(lines) + "\n"


def stage_action(
    *,
    name: str,
    description: str,
    command: tuple[str, ...],
    inputs: Mapping[str, Input],
    args: tuple[Arg, ...] = (),
    outputs: Mapping[str, str] | None = None,
    before: tuple[Step, ...] = (),
    extra_env: Mapping[str, str] | None = None,
    annotations: bool = True,
) -> CompositeAction:
    env = {"ML_CI_CONFIG": "${{ inputs.config }}"}
    env.update({env_name(a.input): f"${{{{ inputs.{a.input} }}}}" for a in args})
    env.update(extra_env or {})
    run = Step(
        name=f"ml-ci {' '.join(command)}", id="run", shell="bash", env=env, run=cli_script(command, args, annotations=annotations)
    )
    return CompositeAction(
        name=f"ml-ci {name}",
        description=description,
        inputs={"config": CONFIG_INPUT, **inputs},
        outputs={k: Output(description=v, value=f"${{{{ steps.run.outputs.{k} }}}}") for k, v in (outputs or {}).items()},
        steps=(*before, run),
    )


INSTALL_SCRIPT = """\
set -euo pipefail
if [ -n "$ML_CI_SOURCE" ]; then
  spec="$ML_CI_SOURCE"
else
  spec="ml-ci"
fi
if [ -n "$ML_CI_EXTRAS" ]; then
  spec="${spec}[${ML_CI_EXTRAS}]"
fi
if [ -z "$ML_CI_SOURCE" ]; then
  spec="$spec==$ML_CI_VERSION"
fi
python -m pip install --disable-pip-version-check "$spec"
printf 'version=%s\\n' "$(python -c 'import ml_ci; print(ml_ci.__version__)')" >> "$GITHUB_OUTPUT"
"""


def setup() -> CompositeAction:
    return CompositeAction(
        name="ml-ci setup",
        description="Set up Python, install ml-ci (the same version as the generator, or from a local path) "
        "with pip and model downloads cached, and validate ml.yaml with annotations.",
        inputs={
            "config": CONFIG_INPUT,
            "python-version": Input(description="Python version for setup-python.", default="3.11"),
            "version": Input(description="ml-ci version to install from the package index.", default=__version__),
            "extras": Input(
                description="pip extras of ml-ci to install (train, serve, deploy, all; empty for none).", default="all"
            ),
            "source": Input(description="Install ml-ci from this local path (a checkout) instead of the index.", default=""),
            "validate": Input(description="Run `ml-ci validate --format github` after installing.", default="true"),
        },
        outputs={"version": Output(description="The ml-ci version installed.", value="${{ steps.install.outputs.version }}")},
        steps=(
            Step(name="Set up Python", uses=pins.SETUP_PYTHON.uses(), with_={"python-version": "${{ inputs.python-version }}"}),
            Step(
                name="Cache pip downloads",
                uses=pins.CACHE.uses(),
                with_={
                    "path": "~/.cache/pip",
                    "key": "ml-ci-pip-${{ runner.os }}-${{ inputs.python-version }}-${{ inputs.version }}-${{ inputs.extras }}",
                    "restore-keys": "ml-ci-pip-${{ runner.os }}-${{ inputs.python-version }}-",
                },
            ),
            Step(
                name="Cache model downloads",
                uses=pins.CACHE.uses(),
                with_={
                    "path": "~/.cache/huggingface",
                    "key": "ml-ci-hf-${{ runner.os }}-${{ hashFiles(inputs.config) }}",
                    "restore-keys": "ml-ci-hf-${{ runner.os }}-",
                },
            ),
            Step(
                name="Install ml-ci",
                id="install",
                shell="bash",
                env={
                    "ML_CI_SOURCE": "${{ inputs.source }}",
                    "ML_CI_EXTRAS": "${{ inputs.extras }}",
                    "ML_CI_VERSION": "${{ inputs.version }}",
                },
                run=INSTALL_SCRIPT,
            ),
            Step(
                name="Validate ml.yaml",
                if_="inputs.validate == 'true'",
                shell="bash",
                env={"ML_CI_CONFIG": "${{ inputs.config }}"},
                run='set -euo pipefail\nml-ci validate --format github "$ML_CI_CONFIG"\n',
            ),
        ),
    )


# Train's entry in GitHub's cache: one stage-cache entry (.ml-ci/cache/train/<key>), saved under
# ml-ci-train-<key>. actions/cache matches a key only together with the exact path list, so whoever
# else saves a train entry (a tuning job keeping its best trial's model) uses these two as they are.
TRAIN_CACHE_PREFIX = "ml-ci-train-"


def train_cache_path(key: str) -> str:
    """The path actions/cache saves and restores for train's stage-cache entry under key."""
    return f".ml-ci/cache/train/{key}"


TRAIN_KEY_SCRIPT = f"""\
set -euo pipefail
args=(-c "$ML_CI_CONFIG")
if [ -n "$ML_CI_PARAMS" ]; then args+=(--params "$ML_CI_PARAMS"); fi
key="$(ml-ci train --print-cache-key "${{args[@]}}")"
printf 'hash=%s\\n' "$key" >> "$GITHUB_OUTPUT"
printf 'key={TRAIN_CACHE_PREFIX}%s\\n' "$key" >> "$GITHUB_OUTPUT"
"""

# Without tune.budget, `ml-ci tune` keeps the best trial's model in train's stage cache under the
# key `ml-ci train --params best_params.json` computes (ml_ci/tune/reuse.py). Name that entry when
# this job holds it (with shared storage the study's best may be another worker's), so that the
# workflow can hand it to the train job.
TUNE_BEST_PARAMS = ".ml-ci/artifacts/tune/best_params.json"
KEPT_OUTPUT = "train-cache-key"
KEPT_KEY_SCRIPT = f"""\
set -euo pipefail
params="{TUNE_BEST_PARAMS}"
if [ ! -f "$params" ]; then exit 0; fi
# Only a shortcut for the train job: if the key cannot be computed here, train computes (and reports) it.
if ! key="$(ml-ci train --print-cache-key -c "$ML_CI_CONFIG" --params "$params")"; then
  echo "::warning::could not compute train's cache key here; the train job trains"
  exit 0
fi
if [ -f "{train_cache_path("$key")}/{MANIFEST}" ]; then
  printf '{KEPT_OUTPUT}=%s\\n' "$key" >> "$GITHUB_OUTPUT"
  echo "this job kept the best trial's model: train's cache entry $key"
else
  echo "no kept model for the best trial in this job (tune.budget, another worker's trial, or no trial run here)"
fi
"""


def train() -> CompositeAction:
    key_step = Step(
        name="Cache key of the training stage",
        id="key",
        shell="bash",
        env={"ML_CI_CONFIG": "${{ inputs.config }}", "ML_CI_PARAMS": "${{ inputs.params }}"},
        run=TRAIN_KEY_SCRIPT,
    )
    # The stage cache (.ml-ci/cache) is content-addressed: on a hit `ml-ci train` restores the
    # model from it in seconds and still writes its outputs. Only train's own entry is cached (not
    # the whole .ml-ci/cache), so a tuning job can save the same entry from its kept trial.
    cache_step = Step(
        name="Restore the training cache",
        id="cache",
        if_="inputs.cache == 'true'",
        uses=pins.CACHE.uses(),
        with_={"path": train_cache_path("${{ steps.key.outputs.hash }}"), "key": "${{ steps.key.outputs.key }}"},
    )
    action = stage_action(
        name="train",
        description="Fine-tune the model (`ml-ci train`), restoring it from the stage cache when nothing it depends on changed.",
        command=("train",),
        inputs={
            "params": Input(description="best_params.json from a tuning run (empty: the params in ml.yaml).", default=""),
            "cache": Input(
                description="Cache the trained model with actions/cache, keyed on the stage's content hash.", default="true"
            ),
        },
        args=(Arg("params", "--params"),),
        outputs={"model-digest": "sha256 of the trained model's files.", "cache-key": "The stage's content hash."},
        before=(key_step, cache_step),
        annotations=False,
    )
    outputs = dict(action.outputs)
    outputs["cache-hit"] = Output(
        description="true when the model came from the cache.", value="${{ steps.cache.outputs.cache-hit }}"
    )
    return CompositeAction(
        name=action.name, description=action.description, inputs=action.inputs, outputs=outputs, steps=action.steps
    )


def tune() -> CompositeAction:
    action = stage_action(
        name="tune",
        description="Search hyperparameters with Optuna (`ml-ci tune`); workers sharing one storage join one study.",
        command=("tune",),
        inputs={
            "trials": Input(description="Trials for this worker (empty: tune.trials).", default=""),
            "workers": Input(description="Parallel workers in this process (empty: tune.workers).", default=""),
        },
        args=(Arg("trials", "--trials"), Arg("workers", "--workers")),
        outputs={"best-value": "Best objective value found."},
    )
    kept = Step(
        name="Train cache key of the best trial's kept model",
        id="kept",
        shell="bash",
        env={"ML_CI_CONFIG": "${{ inputs.config }}"},
        run=KEPT_KEY_SCRIPT,
    )
    outputs = dict(action.outputs)
    outputs[KEPT_OUTPUT] = Output(
        description="Train's cache key under which this job kept the best trial's model in .ml-ci/cache (empty: none kept here).",
        value=f"${{{{ steps.kept.outputs.{KEPT_OUTPUT} }}}}",
    )
    return CompositeAction(
        name=action.name, description=action.description, inputs=action.inputs, outputs=outputs, steps=(*action.steps, kept)
    )


def all_actions() -> dict[str, CompositeAction]:
    """Folder name under actions/ -> action. The one list of ml-ci's composite actions."""
    opt = ""
    return {
        "setup": setup(),
        "data-check": stage_action(
            name="data-check",
            description="Test the data splits (`ml-ci data check`): schema, sizes, leakage, drift.",
            command=("data", "check"),
            inputs={},
            outputs={"fingerprint": "Content fingerprint of the data."},
        ),
        "tune": tune(),
        "train": train(),
        "evaluate": stage_action(
            name="evaluate",
            description="Evaluate the model and check the quality gates (`ml-ci evaluate`); "
            "fails (exit 4) naming each failed gate.",
            command=("evaluate",),
            inputs={
                "baseline": Input(description="eval.json of the baseline for relative gates (empty: none).", default=opt),
                "gitops-dir": Input(
                    description="A checkout of the GitOps repository, for `against: production` (empty: none).", default=opt
                ),
                "main-baseline": Input(
                    description="eval.json (or its folder) of the latest evaluation on main, for `against: main` (empty: none).",
                    default=opt,
                ),
            },
            args=(Arg("baseline", "--baseline"), Arg("gitops-dir", "--gitops-dir"), Arg("main-baseline", "--main-baseline")),
            outputs={"verdict": "pass or fail."},
        ),
        "report": stage_action(
            name="report",
            description="Post the pipeline's report as one sticky PR comment and a commit status (`ml-ci report`).",
            command=("report",),
            inputs={
                "pr": Input(description="Pull request number (empty: no comment).", default=opt),
                "token": Input(description="Token that may comment on the pull request.", default="${{ github.token }}"),
            },
            args=(Arg("pr", "--pr"),),
            extra_env={"GITHUB_TOKEN": "${{ inputs.token }}"},
        ),
        "export": stage_action(
            name="export",
            description="Export the trained model to ONNX with a parity check (`ml-ci export`).",
            command=("export",),
            inputs={},
            annotations=False,
        ),
        "build": stage_action(
            name="build",
            description="Build, verify and push the serving image by digest (`ml-ci build`).",
            command=("build",),
            inputs={
                "push": Input(description="Push the image to the registry.", default="true"),
                "tag": Input(description="Extra tag for the image (empty: none).", default=opt),
            },
            args=(Arg("push", "--push", switch=True), Arg("tag", "--tag")),
            outputs={"image": "Image reference with its digest.", "digest": "Image digest (sha256:...)."},
            annotations=False,
        ),
        "deploy": stage_action(
            name="deploy",
            description="Deploy the image to one environment and smoke-test it (`ml-ci deploy`).",
            command=("deploy",),
            inputs={
                "environment": Input(description="Environment name from ml.yaml.", required=True),
                "image": Input(description="Image reference with digest (empty: build/image.json).", default=opt),
            },
            args=(Arg("environment", "--env", required=True), Arg("image", "--image")),
            outputs={"digest": "Digest now live in the environment."},
        ),
        "promote": stage_action(
            name="promote",
            description="Promote the live digest of one environment to the next (`ml-ci promote`).",
            command=("promote",),
            inputs={
                "from": Input(description="Environment to promote from.", required=True),
                "to": Input(description="Environment to promote to.", required=True),
            },
            args=(Arg("from", "--from", required=True), Arg("to", "--to", required=True)),
            outputs={"digest": "Digest now live in the target environment."},
        ),
    }
