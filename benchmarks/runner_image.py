"""A runner image against the cached environment: two ways for a job to start with its profile installed (issue 18:
"consider a runner image where that is faster; measure both").

- runner image: a container job on an image that holds the profile, as ml-ci could publish one per lock. On a hosted
  runner every job pulls it afresh (the runner keeps no layers between jobs); built with pip's default
  byte-compiling, since a container's writes are lost when the job ends.
- cached environment (today's setup action): actions/cache downloads the zstd tar of the interpreter folder that the
  cold job saved (the lock installed --no-compile, plus the .pyc files the job's imports wrote) and unpacks it.

Both come from the same lock and the same wheels, both are served from this machine (the image from the registry at
127.0.0.1:5000, the archive over HTTP from 127.0.0.1), so what is timed is each path's own work: fetching and
unpacking the layers or the archive, then starting Python and importing what a training job imports. GitHub's
network (GHCR against the cache service) cannot be measured from here; the bytes each path moves are printed.

    .venv/bin/python benchmarks/runner_image.py [--profile cpu] [--runs 3] [--registry 127.0.0.1:5000]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "actions" / "setup" / "locks"
BASE_IMAGE = "ml-ci-base:bookworm"  # .ci/services.sh makes it: Debian 12's Python 3.11, as the locks are for
IMPORTS = "import torch, transformers, datasets, optuna, onnxruntime"  # a training job's first imports
ENV = "/opt/ml-ci"  # the environment's folder in the image
PIP = [sys.executable, "-m", "pip"]
INSTALL = ["--require-hashes", "--no-deps", "--no-compile", "-r"]  # the setup action's, before the lock

DOCKERFILE = f"""\
FROM {BASE_IMAGE} AS install
COPY wheels /wheels
COPY lock.txt /lock.txt
RUN python3 -m venv {ENV} \\
 && {ENV}/bin/python -m pip install -q --disable-pip-version-check --find-links /wheels \\
    --require-hashes --no-deps -r /lock.txt

FROM {BASE_IMAGE}
COPY --from=install {ENV} {ENV}
ENV PATH={ENV}/bin:$PATH
"""


def sh(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(args, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(
            f"benchmark error: {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done


def timed(args: list[str] | str) -> float:
    """Seconds a command took; a string runs as a bash pipeline that fails when any of its commands does."""
    start = time.perf_counter()
    sh(["bash", "-o", "pipefail", "-c", args] if isinstance(args, str) else args)
    return time.perf_counter() - start


def folder_mb(path: Path) -> float:
    return int(sh(["du", "-sb", str(path)]).stdout.split()[0]) / 1e6


def download_wheels(lock: Path, dest: Path) -> None:
    """Every file of the lock, hash-checked, into dest (torch's CPU build from /opt/wheels, the rest from the index)."""
    sh([*PIP, "download", "-q", "--no-deps", "--require-hashes", "--find-links", "/opt/wheels", "-d", str(dest), "-r", str(lock)])


def build_image(context: Path, tag: str) -> None:
    (context / "Dockerfile").write_text(DOCKERFILE)
    sh(["docker", "build", "--network", "host", "-q", "-t", tag, str(context)], timeout=3600)
    sh(["docker", "push", tag], timeout=1800)


def pushed_mb(registry: str, repository: str, tag: str) -> float:
    """The image's compressed layers as the registry serves them: what a pull downloads."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        manifest = json.load(response)
    return sum(layer["size"] for layer in manifest["layers"]) / 1e6


def cached_environment(lock: Path, wheels: Path, work: Path) -> Path:
    """The folder the setup action's cold job saves: the lock installed --no-compile into a venv, then the job's
    imports run once (writing their .pyc files), archived as actions/cache archives (tar, zstd -T0 --long=30)."""
    env = work / "env"
    sh([sys.executable, "-m", "venv", "--without-pip", str(env)])
    python = str(env / "bin" / "python")
    # --find-links, not --no-index: an sdist of the lock (seqeval) is built with build requirements from the index.
    sh([*PIP, "--python", python, "install", "-q", "--find-links", str(wheels), *INSTALL, str(lock)], timeout=3600)
    # As on a runner, whose Python writes the .pyc files (this machine's environment may say otherwise).
    writes = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    sh([python, "-c", IMPORTS], timeout=600, env=writes)
    archive = work / "serve" / "env.tzst"
    archive.parent.mkdir()
    timed(f"tar --posix -C {env} -cf - . | zstd -q -T0 --long=30 -o {archive}")
    return archive


@contextlib.contextmanager
def http_server(folder: Path) -> Iterator[int]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # a line per request would bury the results
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", help="the lock of actions/setup/locks to measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    lock = LOCKS / f"{args.profile}.txt"
    if not lock.is_file():
        parser.error(f"no lock {lock}")
    if sh(["docker", "images", "-q", BASE_IMAGE]).stdout.strip() == "":
        print(f"benchmark error: no {BASE_IMAGE} (bash .ci/services.sh makes it)", file=sys.stderr)
        return 1
    work = args.keep or Path(tempfile.mkdtemp(prefix="ml-ci-bench-image-"))
    repository = "ml-ci-runner"
    tag = f"{args.profile}-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}"
    image = f"{args.registry}/{repository}:{tag}"
    try:
        context = work / "context"
        shutil.rmtree(work, ignore_errors=True)
        (context / "wheels").mkdir(parents=True)
        shutil.copy(lock, context / "lock.txt")
        print("downloading the lock's wheels ...", flush=True)
        download_wheels(lock, context / "wheels")
        print(f"building {image} ...", flush=True)
        build_image(context, image)
        image_mb = int(sh(["docker", "image", "inspect", "-f", "{{.Size}}", image]).stdout) / 1e6
        base_mb = int(sh(["docker", "image", "inspect", "-f", "{{.Size}}", BASE_IMAGE]).stdout) / 1e6
        layers_mb = pushed_mb(args.registry, repository, tag)
        print("making the cache archive ...", flush=True)
        archive = cached_environment(lock, context / "wheels", work)
        env_mb = folder_mb(work / "env")
        archive_mb = archive.stat().st_size / 1e6

        pulls: list[float] = []
        restores: list[float] = []
        with http_server(archive.parent) as port:
            for i in range(args.runs):
                # Each job on a hosted runner starts without the image (the base is a layer every runner has).
                sh(["docker", "rmi", "-f", image])
                pulls.append(
                    timed(["docker", "pull", "-q", image])
                    + timed(["docker", "run", "--rm", "--network", "host", image, "python", "-c", IMPORTS])
                )
                restored = work / f"restored-{i}"
                restored.mkdir()
                restores.append(
                    timed(
                        f"curl -sf http://127.0.0.1:{port}/env.tzst | zstd -q -d --long=30 -T0 | tar -xf - -C {restored}"
                        f" && {restored}/bin/python -c '{IMPORTS}'"
                    )
                )
                shutil.rmtree(restored)
                print(f"run {i + 1}: runner image {pulls[-1]:.1f} s, cached environment {restores[-1]:.1f} s", flush=True)
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    pull, restore = statistics.median(pulls), statistics.median(restores)
    print()
    print("| path | moves (MB) | on disk (MB) | setup to first import, median s |")
    print("| --- | --- | --- | --- |")
    image_row = f"{layers_mb:,.0f} compressed layers | {image_mb - base_mb:,.0f} over the base"
    print(f"| runner image (pull, start, import) | {image_row} | {pull:.1f} |")
    print(f"| cached environment (download, unpack, import) | {archive_mb:,.0f} zstd archive | {env_mb:,.0f} | {restore:.1f} |")
    print(
        json.dumps(
            {
                "benchmark": "runner_image",
                "ratios": {
                    "runner image / cached environment (setup to first import)": {
                        "value": round(pull / restore, 2),
                        "ours": f"{pull:.1f} s",
                        "baseline": f"{restore:.1f} s",
                    },
                },
                "conditions": {
                    "profile": args.profile,
                    "runs": args.runs,
                    "pulls_s": [round(p, 1) for p in pulls],
                    "restores_s": [round(r, 1) for r in restores],
                    "image_layers_mb": round(layers_mb),
                    "image_over_base_mb": round(image_mb - base_mb),
                    "archive_mb": round(archive_mb),
                    "environment_mb": round(env_mb),
                    "imports": IMPORTS,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
