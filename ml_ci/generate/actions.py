"""The composite actions in actions/<name>/action.yml, as data.

Each wraps one `ml-ci` command exactly as docs/architecture.md specifies: `-c CONFIG`, the
stage's artifacts under .ml-ci/artifacts/<stage>/, outputs through $GITHUB_OUTPUT (written by
the command itself). A stage's action takes its options and exposes its outputs as the stage
table declares them (`ml_ci.pipeline.stages`). Inputs reach the script only through `env:` and are
used as "$VAR", so an input can never become shell code. `python -m ml_ci.generate.bundled`
rewrites the files.
"""

from __future__ import annotations

from collections.abc import Mapping

from ml_ci import __version__
from ml_ci.cache import MANIFEST
from ml_ci.generate import pins
from ml_ci.generate.model import CompositeAction, Input, Output, Step
from ml_ci.pipeline import stages
from ml_ci.pipeline.layout import IN_REPO
from ml_ci.pipeline.stages import Option

CONFIG_INPUT = Input(description="Path to ml.yaml, relative to the workspace.", default="ml.yaml")


def env_name(input_name: str) -> str:
    return "ML_CI_" + input_name.upper().replace("-", "_")


def cli_script(command: tuple[str, ...], args: tuple[Option, ...], *, annotations: bool = False) -> str:
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


def _input(option: Option) -> Input:
    if option.required:
        return Input(description=option.description, required=True)
    return Input(description=option.description, default=option.default)


def stage_action(
    name: str,
    *,
    inputs: Mapping[str, Input] | None = None,
    before: tuple[Step, ...] = (),
    extra_env: Mapping[str, str] | None = None,
) -> CompositeAction:
    """The action of a stage of the table: its options as inputs (then the action's own `inputs`), its
    outputs from the run step, after the steps `before`."""
    spec = stages.get(name)
    env = {"ML_CI_CONFIG": "${{ inputs.config }}"}
    env.update({env_name(o.input): f"${{{{ inputs.{o.input} }}}}" for o in spec.options})
    env.update(extra_env or {})
    run = Step(
        name=f"ml-ci {' '.join(spec.command)}",
        id="run",
        shell="bash",
        env=env,
        run=cli_script(spec.command, spec.options, annotations=spec.annotations),
    )
    return CompositeAction(
        name=f"ml-ci {name}",
        description=spec.summary,
        inputs={"config": CONFIG_INPUT, **{o.input: _input(o) for o in spec.options}, **(inputs or {})},
        outputs={k: Output(description=v, value=f"${{{{ steps.run.outputs.{k} }}}}") for k, v in spec.outputs.items()},
        steps=(*before, run),
    )


# The lock of the job's profile (ml_ci.lock.profiles): the repository's own (`ml-ci lock`, with ci.constraints) or
# the one shipped beside this action. Its hash keys the cached environment, so a changed lock never restores an
# old one; hashFiles() cannot read the action's own folder, hence a step.
LOCK_SCRIPT = """\
set -euo pipefail
case "$ML_CI_PROFILE" in
  light | data | deploy | build | cpu | cuda) ;;
  *) echo "::error::profile '$ML_CI_PROFILE' is not one of light, data, deploy, build, cpu, cuda"; exit 1 ;;
esac
if [ -n "$ML_CI_LOCK_DIR" ]; then
  dir="$GITHUB_WORKSPACE/$ML_CI_LOCK_DIR"
else
  dir="$GITHUB_ACTION_PATH/locks"
fi
lock="$dir/$ML_CI_PROFILE.txt"
if [ ! -f "$lock" ]; then
  echo "::error::no lock for the profile '$ML_CI_PROFILE' at $lock (a repository's own locks: ml-ci lock)"
  exit 1
fi
printf 'path=%s\\n' "$lock" >> "$GITHUB_OUTPUT"
printf 'sha256=%s\\n' "$(sha256sum "$lock" | cut -c1-64)" >> "$GITHUB_OUTPUT"
"""

# Every package from the lock with its hash checked and nothing else (--no-deps: the lock is complete, so nothing is
# resolved), then ml-ci itself without its dependencies: from the index by version (cached with the rest), or from
# a local path (the next step; never cached: it changes without a version). The installer is uv (6.4x faster than
# pip on the cpu lock: benchmarks/installer.py), itself pinned by hash in uv.txt beside this action and installed by
# pip into the runner's temp folder, outside the environment that is cached. uv byte-compiles nothing (a job imports
# a few modules of each package; Python compiles those on first import, and the cache keeps them).
INSTALL_SCRIPT = """\
set -euo pipefail
uv_home="$RUNNER_TEMP/ml-ci-uv"
rm -rf "$uv_home"
python -m pip install --disable-pip-version-check --require-hashes --no-deps --no-compile \\
  --target "$uv_home" -r "$GITHUB_ACTION_PATH/uv.txt"
uv="$uv_home/bin/uv"
# The runner's pip settings (a mirror, a folder of wheels) reach uv where uv's own are not set.
if [ -n "${PIP_INDEX_URL:-}" ] && [ -z "${UV_INDEX_URL:-}${UV_DEFAULT_INDEX:-}" ]; then
  export UV_INDEX_URL="$PIP_INDEX_URL"
fi
if [ -n "${PIP_EXTRA_INDEX_URL:-}" ] && [ -z "${UV_EXTRA_INDEX_URL:-}${UV_INDEX:-}" ]; then
  export UV_EXTRA_INDEX_URL="$PIP_EXTRA_INDEX_URL"
fi
if [ -n "${PIP_FIND_LINKS:-}" ] && [ -z "${UV_FIND_LINKS:-}" ]; then
  read -ra links <<< "$PIP_FIND_LINKS"
  UV_FIND_LINKS="$(IFS=,; echo "${links[*]}")"
  export UV_FIND_LINKS
fi
# --no-config: a uv.toml or pyproject.toml of the repository does not change what the lock installs; --no-progress:
# a log gets uv's lines (what it downloaded and installed), not its progress bars.
# Best match over every index is safe here, as pip's merging of them is: each file must match the lock's hash.
args=(pip install --no-config --no-progress --python "$ML_CI_PYTHON" --require-hashes --no-deps)
args+=(--index-strategy unsafe-best-match -r "$ML_CI_LOCK")
if [ "$ML_CI_PROFILE" = cpu ] && [ -n "$ML_CI_TORCH_INDEX" ]; then
  # torch's CPU build is not on PyPI; the lock pins it by hash, so the index only serves the file.
  args+=(--extra-index-url "$ML_CI_TORCH_INDEX")
fi
"$uv" "${args[@]}"
if [ -z "$ML_CI_SOURCE" ]; then
  # No hash for ml-ci itself (it is not in its own lock), so uv's default: the first index that has it.
  "$uv" pip install --no-config --no-progress --python "$ML_CI_PYTHON" --no-deps "ml-ci==$ML_CI_VERSION"
fi
"""

SOURCE_SCRIPT = """\
set -euo pipefail
python -m pip install --disable-pip-version-check --no-deps "$ML_CI_SOURCE"
"""

# The fingerprint names the environment in the log and the outputs (ml_ci.lock.fingerprint): two runs that installed
# the same versions print the same one. The lock was resolved whole by uv, so no `pip check` is needed here.
CHECK_SCRIPT = """\
set -euo pipefail
python -m ml_ci.lock.fingerprint >> "$GITHUB_OUTPUT"
"""


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def setup() -> CompositeAction:
    return CompositeAction(
        name="ml-ci setup",
        description="Set up Python and the job's locked environment (restored from the cache when its lock is unchanged, "
        "else installed with every hash checked), ml-ci itself (the generator's version, or a local path), and validate "
        "ml.yaml with annotations.",
        inputs={
            "config": CONFIG_INPUT,
            "python-version": Input(description="Python version for setup-python.", default="3.11"),
            "version": Input(description="ml-ci version to install from the package index.", default=__version__),
            "profile": Input(
                description="The environment to install (its lock): light, data, deploy, build, cpu or cuda "
                "(ml_ci/lock/profiles.py says which job needs which).",
                default="cpu",
            ),
            "lock-dir": Input(
                description="A folder of the repository holding its own locks (`ml-ci lock`); empty: the ones shipped "
                "with this action.",
                default="",
            ),
            "torch-index": Input(
                description="Package index that serves torch's CPU build, for the cpu profile.", default=TORCH_CPU_INDEX
            ),
            "source": Input(description="Install ml-ci from this local path (a checkout) instead of the index.", default=""),
            "validate": Input(description="Run `ml-ci validate --format github` after installing.", default="true"),
        },
        outputs={
            "version": Output(description="The ml-ci version installed.", value="${{ steps.check.outputs.version }}"),
            "cache-hit": Output(
                description="Whether the environment was restored from the cache.", value="${{ steps.env.outputs.cache-hit }}"
            ),
            "fingerprint": Output(
                description="sha256 (16 hex) of the sorted `pip freeze` of the environment, without ml-ci itself.",
                value="${{ steps.check.outputs.fingerprint }}",
            ),
        },
        steps=(
            Step(
                name="Set up Python",
                id="python",
                uses=pins.SETUP_PYTHON.uses(),
                with_={"python-version": "${{ inputs.python-version }}"},
            ),
            Step(
                name="Find the lock",
                id="lock",
                shell="bash",
                env={"ML_CI_PROFILE": "${{ inputs.profile }}", "ML_CI_LOCK_DIR": "${{ inputs.lock-dir }}"},
                run=LOCK_SCRIPT,
            ),
            # The whole interpreter's folder, keyed by the exact lock: a hit is the environment a cold job installed;
            # no restore-keys, since topping up an older environment would keep what the lock has dropped.
            Step(
                name="Restore the environment",
                id="env",
                uses=pins.CACHE.uses(),
                with_={
                    "path": "${{ env.pythonLocation }}",
                    "key": "ml-ci-env-${{ runner.os }}-${{ runner.arch }}-${{ steps.python.outputs.python-version }}-"
                    "${{ inputs.profile }}-${{ steps.lock.outputs.sha256 }}-"
                    "${{ inputs.source == '' && inputs.version || 'source' }}",
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
                name="Install the locked environment",
                id="install",
                if_="steps.env.outputs.cache-hit != 'true'",
                shell="bash",
                env={
                    "ML_CI_LOCK": "${{ steps.lock.outputs.path }}",
                    "ML_CI_PYTHON": "${{ steps.python.outputs.python-path }}",
                    "ML_CI_PROFILE": "${{ inputs.profile }}",
                    "ML_CI_TORCH_INDEX": "${{ inputs.torch-index }}",
                    "ML_CI_SOURCE": "${{ inputs.source }}",
                    "ML_CI_VERSION": "${{ inputs.version }}",
                },
                run=INSTALL_SCRIPT,
            ),
            Step(
                name="Install ml-ci from the source",
                id="source",
                if_="inputs.source != ''",
                shell="bash",
                env={"ML_CI_SOURCE": "${{ inputs.source }}"},
                run=SOURCE_SCRIPT,
            ),
            Step(name="Check the environment", id="check", shell="bash", run=CHECK_SCRIPT),
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
    return (IN_REPO.cache / "train" / key).as_posix()


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
TUNE_BEST_PARAMS = IN_REPO.best_params.as_posix()
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
        "train",
        inputs={
            "cache": Input(
                description="Cache the trained model with actions/cache, keyed on the stage's content hash.", default="true"
            ),
        },
        before=(key_step, cache_step),
    )
    # The action's cache-hit says whether GitHub's cache restored the entry: then `ml-ci train` restores the model from it.
    outputs = dict(action.outputs)
    outputs[stages.CACHE_HIT] = Output(
        description=stages.get("train").outputs[stages.CACHE_HIT], value="${{ steps.cache.outputs.cache-hit }}"
    )
    return CompositeAction(
        name=action.name, description=action.description, inputs=action.inputs, outputs=outputs, steps=action.steps
    )


def tune() -> CompositeAction:
    action = stage_action("tune")
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
    return {
        "setup": setup(),
        "data-check": stage_action("data-check"),
        "tune": tune(),
        "train": train(),
        "evaluate": stage_action("evaluate"),
        "report": stage_action(
            "report",
            inputs={"token": Input(description="Token that may comment on the pull request.", default="${{ github.token }}")},
            extra_env={"GITHUB_TOKEN": "${{ inputs.token }}"},
        ),
        "export": stage_action("export"),
        "build": stage_action("build"),
        "deploy": stage_action("deploy"),
        "promote": stage_action("promote"),
    }
