from __future__ import annotations

import click

from ml_ci.resources import resource, schema


@click.command("schema")
@click.option("--markdown", is_flag=True, help="Print the ml.yaml reference (docs/ml-yaml.md) instead of the JSON Schema.")
def command(markdown: bool) -> None:
    """Print the JSON Schema of ml.yaml (draft 2020-12), or its reference as markdown."""
    if markdown:
        from ml_ci.config.reference import render

        click.echo(render(schema()), nl=False)
    else:
        click.echo(resource("schemas/ml.schema.json").read_text(encoding="utf-8"), nl=False)
