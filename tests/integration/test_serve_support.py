"""Helpers for the serving tests (no tests here): an exported tiny model and a server process."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci.build.verify import free_port, wait_ready
from tests.modelrepo import make_model_repo, tiny_model

ROOT = Path(__file__).resolve().parents[2]


def exported_repo(root: Path, *, n_test: int = 40, overrides: dict[str, Any] | None = None) -> Path:
    """A scratch model repository with a tiny random model, exported; returns its ml.yaml."""
    from ml_ci.config import load_config
    from ml_ci.export.stage import run_export

    path = make_model_repo(root, n_test=n_test, overrides=overrides)
    tiny_model(root / ".ml-ci/artifacts/train/model")
    run_export(load_config(path).config)
    return path


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines() if line.startswith("{")]

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="utf-8")
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


@contextmanager
def server(model_dir: Path, tmp: Path, *args: str) -> Iterator[Server]:
    """`python -m ml_ci.serve` as its own process (as in the image), ready; SIGTERM on the way out."""
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ml_ci.serve", "--model", str(model_dir), "--port", str(port), *args],
                                   stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 60, lambda: process.poll() is None)
        yield Server(process, port, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def raw_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection, bytes as given (for malformed bodies)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_exit(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    code = process.poll()
    assert code is not None, "the server did not exit"
    return code
