"""`ml-ci serve`: run the inference server on this machine, with ml.yaml's serve settings."""

from __future__ import annotations

from pathlib import Path

import click

from ml_ci.cli.app import config_option, run_guarded
from ml_ci.config import load_config


def serve(config_path: Path, model: Path | None, host: str, port: int | None) -> int:
    from ml_ci.build.plan import generation_limits
    from ml_ci.errors import OperationalError
    from ml_ci.pipeline.layout import Layout
    from ml_ci.serve.limits import Limits
    from ml_ci.serve.server import run

    config = load_config(config_path).config
    folder = model or Layout(config.root).export_dir
    if not (folder / "model.json").is_file():
        raise OperationalError(f"{folder}: no exported model (model.json); run `ml-ci export` first")
    s = config.serve
    limits = Limits(
        max_batch_size=s.max_batch_size,
        max_batch_delay_ms=s.max_batch_delay_ms,
        max_body_bytes=s.max_body_bytes,
        max_texts=s.max_texts,
        max_text_chars=s.max_text_chars,
        threads=s.threads,
        drain_seconds=s.drain_seconds,
        **generation_limits(s),
    )
    return run(folder, limits=limits, host=host, port=port or s.port)


@click.command("serve")
@config_option
@click.option(
    "--model", type=click.Path(path_type=Path), default=None, help="Exported model folder (default: .ml-ci/artifacts/export)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="ML_CI_SERVE_HOST",
    help="Address to listen on. Env: ML_CI_SERVE_HOST.",
)
@click.option(
    "--port", type=int, default=None, envvar="ML_CI_SERVE_PORT", help="Port (default: serve.port). Env: ML_CI_SERVE_PORT."
)
def command(config_path: Path, model: Path | None, host: str, port: int | None) -> None:
    """Serve the exported model over HTTP: POST /v1/predict, GET /healthz, /readyz, /metrics, /, and the
    task's own routes (text-generation: OpenAI's /v1/completions, /v1/chat/completions, /v1/models).

    On SIGTERM: not ready at once, still answering for serve.drain_seconds, then stops accepting and
    exits 0 once every request it read is answered. Without ml.yaml, run
    `python -m ml_ci.serve --model DIR` instead.
    """
    raise SystemExit(run_guarded(lambda: serve(config_path, model, host, port)))
