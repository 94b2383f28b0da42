from __future__ import annotations

import re
from pathlib import Path

import click

from ml_ci import tasks
from ml_ci.atomic import write_text
from ml_ci.cli.app import run_guarded
from ml_ci.errors import OperationalError
from ml_ci.resources import resource

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def init(directory: Path, name: str | None, owner: str, force: bool, task: str = tasks.names()[0]) -> int:
    target = directory / "ml.yaml"
    name = name or re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")[:53] or "model"
    if not _LABEL.match(name):
        # A bad option is a usage error (exit 64), not an invalid ml.yaml.
        raise click.BadParameter(f"{name!r} must be a DNS-1123 label (lowercase letters, digits, '-')", param_hint="--name")
    if target.exists() and not force:
        raise OperationalError(f"{target} already exists; pass --force to overwrite it")
    half = tasks.get(task).config()  # the task's own data keys, and what to edit in them
    template = resource("templates/init/ml.yaml").read_text(encoding="utf-8")
    text = template.format(
        name=name,
        owner=owner,
        task=task,
        task_data=half.INIT_DATA,
        task_model=half.INIT_MODEL,
        metric=half.TUNE_METRICS[0],
        bound=half.INIT_BOUND,
    )
    directory.mkdir(parents=True, exist_ok=True)
    write_text(target, text)
    click.echo(f"wrote {target}; {half.INIT_NEXT}, then run `ml-ci validate {target}`")
    if ignore_state(directory / ".gitignore"):
        click.echo(f"added {STATE_DIR} to {directory / '.gitignore'}: artifacts, caches and local state stay out of git")
    return 0


STATE_DIR = ".ml-ci/"
# Lines that already keep .ml-ci/ out of git (a leading '/' anchors it at the root, which is where it is).
_IGNORES_STATE = {".ml-ci", ".ml-ci/", "/.ml-ci", "/.ml-ci/", ".ml-ci/*", "/.ml-ci/*"}


def ignore_state(gitignore: Path) -> bool:
    """Append .ml-ci/ to .gitignore unless a line there already ignores it; the rest of the file is kept as it
    is. True when the file changed."""
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(
            f"{gitignore}: cannot read it to add {STATE_DIR} ({e}); add the line {STATE_DIR} yourself"
        ) from None
    if any(line.strip() in _IGNORES_STATE for line in text.splitlines()):
        return False
    addition = ("" if not text or text.endswith("\n") else "\n") + f"# ml-ci: artifacts, caches and local state\n{STATE_DIR}\n"
    with gitignore.open("a", encoding="utf-8") as f:
        f.write(addition)
    return True


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Model name (a DNS-1123 label); default: the folder's name.")
@click.option("--owner", default="my-org", show_default=True, help="GitHub owner used in image and GitOps repository names.")
@click.option("--force", is_flag=True, help="Overwrite an existing ml.yaml.")
@click.option(
    "--task", type=click.Choice(tasks.names()), default=tasks.names()[0], show_default=True, help="What the model does."
)
def command(directory: Path, name: str | None, owner: str, force: bool, task: str) -> None:
    """Write a commented starter ml.yaml that validates (with the schema line editors use)."""
    raise SystemExit(run_guarded(lambda: init(directory, name, owner, force, task)))
