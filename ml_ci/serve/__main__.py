"""`python -m ml_ci.serve --model DIR`: the image's entry point; flags fall back to ML_CI_SERVE_* variables."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path

from ml_ci.serve.limits import Limits


def parse(argv: Sequence[str], env: Mapping[str, str]) -> tuple[Path, str, int, Limits]:
    parser = argparse.ArgumentParser(prog="python -m ml_ci.serve", description="Serve an exported ml-ci model over HTTP.")
    parser.add_argument(
        "--model",
        default=env.get("ML_CI_SERVE_MODEL", ".ml-ci/artifacts/export"),
        help="the `ml-ci export` folder (env ML_CI_SERVE_MODEL)",
    )
    parser.add_argument("--host", default=env.get("ML_CI_SERVE_HOST", "127.0.0.1"), help="env ML_CI_SERVE_HOST")
    parser.add_argument("--port", type=int, default=int(env.get("ML_CI_SERVE_PORT", "8080")), help="env ML_CI_SERVE_PORT")
    defaults = Limits()
    for f in fields(Limits):
        var = f"ML_CI_SERVE_{f.name.upper()}"
        kind = float if isinstance(getattr(defaults, f.name), float) else int
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=kind,
            default=kind(env.get(var, getattr(defaults, f.name))),
            help=f"env {var}",
        )
    args = parser.parse_args(list(argv))
    limits = Limits(**{f.name: getattr(args, f.name) for f in fields(Limits)})
    return Path(args.model), args.host, args.port, limits


def main(argv: Sequence[str] | None = None) -> int:
    from ml_ci.serve.server import run

    model, host, port, limits = parse(sys.argv[1:] if argv is None else argv, os.environ)
    return run(model, limits=limits, host=host, port=port)


if __name__ == "__main__":
    raise SystemExit(main())
