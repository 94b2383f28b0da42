"""Helpers for the serving tests (no tests here): an exported tiny model and a server process."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_ci.net import free_port
from ml_ci.serving_client import wait_ready
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
    """`python -m ml_ci.serve` as its own process (as in the image), ready; SIGTERM on the way out.
    Flags in args override the environment."""
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    # No drain on the way out unless a test asks for one (--drain-seconds): it would only add seconds.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ML_CI_SERVE_DRAIN_SECONDS": "0"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ml_ci.serve", "--model", str(model_dir), "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}", 60, alive=lambda: process.poll() is None, interval=0.1)
        yield Server(process, port, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def raw_request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> tuple[int, dict[str, str], bytes]:
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


def thread_count(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def metric(port: int, name: str) -> float:
    """One sample of the server's /metrics (0 when absent), e.g. 'mlci_errors_total{kind="timeout"}'."""
    text = raw_request(port, "GET", "/metrics")[2].decode()
    return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")), 0.0)


@dataclass
class Tally:
    """What one keep-alive client saw. `lost`: requests written to a connection that then gave no answer
    (reset, closed, timed out): what a drain must never cause. `refused`: connections that could not be
    opened, so no request was sent. `bad`: answers other than the one expected."""

    answered: Counter[int] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    refused: int = 0
    bad: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.answered.values()) + len(self.lost)

    def add(self, other: Tally) -> None:
        self.answered.update(other.answered)
        self.lost.extend(other.lost)
        self.refused += other.refused
        self.bad.extend(other.bad)


@dataclass(frozen=True)
class Case:
    """One request a client sends, and the answer it expects (with `texts` predictions when 200)."""

    body: bytes
    expect: int = 200
    texts: int | None = None
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


def client_loop(port: int, stop: threading.Event, cases: Sequence[Case], *, until: float | None = None) -> Tally:
    """POST the cases to /v1/predict in turn, again and again, on a keep-alive connection until stop (or
    the monotonic time `until`), reconnecting when the server closes; every outcome is tallied, never raised."""
    tally = Tally()
    conn: http.client.HTTPConnection | None = None
    k = 0
    while not stop.is_set() and (until is None or time.monotonic() < until):
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.connect()
            except OSError:
                tally.refused += 1
                conn = None
                time.sleep(0.05)
                continue
        case = cases[k % len(cases)]
        k += 1
        try:
            conn.request("POST", "/v1/predict", body=case.body, headers=dict(case.headers))
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as e:
            tally.lost.append(f"{type(e).__name__}: {e}")
            conn.close()
            conn = None
            continue
        tally.answered[response.status] += 1
        if response.status != case.expect:
            tally.bad.append(f"{response.status}: {data[:200]!r}")
        elif case.texts is not None and response.status == 200 and len(json.loads(data)["predictions"]) != case.texts:
            tally.bad.append(f"{case.texts} texts, answer {data[:200]!r}")
        if response.will_close:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    return tally


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Bytes in on a fresh connection; every byte the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
