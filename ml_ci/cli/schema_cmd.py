from __future__ import annotations

import json

import click

from ml_ci.resources import resource, schema


def regenerate() -> bool:
    """Write the task-dependent parts of schemas/ml.schema.json anew from the task registry (a source checkout's
    file, or the installed copy). True when the file changed."""
    from ml_ci.config import by_task

    path = resource("schemas/ml.schema.json")
    text = path.read_text(encoding="utf-8")
    new = by_task.dumps(by_task.generate(json.loads(text)))
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


@click.command("schema")
@click.option("--markdown", is_flag=True, help="Print the ml.yaml reference (docs/ml-yaml.md) instead of the JSON Schema.")
@click.option(
    "--regenerate",
    "regen",
    is_flag=True,
    help="Rewrite the task-dependent parts of schemas/ml.schema.json from the task registry (after adding a task).",
)
def command(markdown: bool, regen: bool) -> None:
    """Print the JSON Schema of ml.yaml (draft 2020-12), or its reference as markdown."""
    if regen:
        changed = regenerate()
        path = resource("schemas/ml.schema.json")
        click.echo(f"{'wrote' if changed else 'unchanged:'} {path}; then `ml-ci schema --markdown > docs/ml-yaml.md`", err=True)
    elif markdown:
        from ml_ci.config.reference import render

        click.echo(render(schema()), nl=False)
    else:
        click.echo(resource("schemas/ml.schema.json").read_text(encoding="utf-8"), nl=False)
