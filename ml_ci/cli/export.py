"""`ml-ci export`: the trained model to ONNX, with a parity check against PyTorch."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ml_ci.cli.app import NO_CACHE_OPTION, config_option, run_guarded
from ml_ci.config import load_config


def export(config_path: Path, model: Path | None, no_cache: bool = False) -> int:
    from ml_ci.export.stage import run_export
    from ml_ci.github import actions_io

    config = load_config(config_path).config
    result = run_export(config, model_dir=model, no_cache=no_cache)
    lines = [
        f"{'restored from the cache' if result.cache_hit else 'exported'} {result.folder} "
        f"(sha256 {result.sha256[:12]}, quantize {config.package.quantize})",
        result.parity.summary(),
        f"golden examples: {result.golden}",
    ]
    click.echo("\n".join(lines))
    actions_io.add_summary("### ml-ci export\n\n" + "\n".join(f"- {line}" for line in lines), os.environ)
    actions_io.set_output("model-sha256", result.sha256, os.environ)
    return 0


@click.command("export")
@config_option
@click.option(
    "--model", type=click.Path(path_type=Path), default=None, help="Model folder (default: .ml-ci/artifacts/train/model)."
)
@NO_CACHE_OPTION
def command(config_path: Path, model: Path | None, no_cache: bool) -> None:
    """Export the trained model to ONNX (package.quantize: int8 quantizes it) and check it against PyTorch.

    Writes .ml-ci/artifacts/export/: model.onnx, tokenizer.json, model.json, parity.json, golden.json.
    Exit 0 on success, 4 when the exported model disagrees with PyTorch beyond package.min_agreement /
    package.max_accuracy_drop, 1 when the trained model is missing.
    """
    raise SystemExit(run_guarded(lambda: export(config_path, model, no_cache)))
