"""Shared by the deploy tests (unit and integration): scratch configs, records and validators."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ml_ci.config import Config, load_config
from tests.modelrepo import make_model_repo

ROOT = Path(__file__).resolve().parents[3]
CRDS = ROOT / "tests" / "fixtures" / "crds"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
IMAGE_A = f"127.0.0.1:5000/acme/tiny@{DIGEST_A}"
IMAGE_B = f"127.0.0.1:5000/acme/tiny@{DIGEST_B}"
LABELS = ("negative", "positive")


def environments(**overrides: dict[str, Any]) -> list[dict[str, Any]]:
    envs: list[dict[str, Any]] = [
        {"name": "staging", "namespace": "ml-staging"},
        {
            "name": "production",
            "replicas": 3,
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
            "autoscale": {"min_replicas": 2, "max_replicas": 5, "target_cpu_utilization": 60},
        },
    ]
    for env in envs:
        env.update(overrides.get(env["name"], {}))
    return envs


def config(
    root: Path, *, deploy: dict[str, Any] | None = None, monitoring: dict[str, Any] | None = None, name: str = "tiny"
) -> Config:
    """A scratch model repo whose ml.yaml deploys to staging and production."""
    overrides: dict[str, Any] = {
        "image": {"registry": "127.0.0.1:5000", "repository": "acme/tiny", "base": "ml-ci-base:bookworm"},
        "deploy": deploy
        or {
            "strategy": "gitops",
            "gitops": {"repo": "gitops.git", "path": "apps/tiny", "create": True},
            "environments": environments(),
        },
        "monitoring": monitoring or {"enabled": True, "p95_latency_ms": 200, "error_rate": 0.05, "no_traffic_minutes": 30},
    }
    path = make_model_repo(root, name=name, n_train=30, n_val=10, n_test=10, overrides=overrides)
    return load_config(path).config


def eval_record(verdict: str = "pass") -> dict[str, Any]:
    return {"verdict": verdict, "metrics": {"accuracy": 0.93}, "gates": []}


def golden_record(n: int = 4, flip: bool = False) -> dict[str, Any]:
    """golden.json as `ml-ci export` writes it; `flip` swaps the expected labels (a wrong model)."""
    examples = []
    for i in range(n):
        p = 0.9 if i % 2 == 0 else 0.2
        if flip:
            p = 1 - p
        probs = {"negative": round(1 - p, 7), "positive": round(p, 7)}
        label = "positive" if p > 0.5 else "negative"
        examples.append(
            {
                "text": f"text number {i}",
                "label": label,
                "expected": {"label": label, "probabilities": probs},
                "pytorch": {"label": label, "probabilities": probs},
            }
        )
    return {"labels": list(LABELS), "tolerance": 0.001, "examples": examples}


def write_artifacts(root: Path, image: str = IMAGE_A, verdict: str = "pass", golden: dict[str, Any] | None = None) -> None:
    """The files deploy reads from other stages: build/image.json, evaluate/eval.json, export/golden.json."""
    art = root / ".ml-ci" / "artifacts"
    for sub, data in (
        ("build/image.json", {"image": image, "digest": image.split("@")[1], "tags": []}),
        ("evaluate/eval.json", eval_record(verdict)),
        ("export/golden.json", golden or golden_record()),
    ):
        (art / sub).parent.mkdir(parents=True, exist_ok=True)
        (art / sub).write_text(json.dumps(data), encoding="utf-8")


def _closed(schema: Any) -> Any:
    """The schema with every object that lists properties closed (as fieldValidation=Strict is)."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def validate_custom(obj: dict[str, Any]) -> None:
    """Validate a ServiceMonitor or PrometheusRule against the CRD fixture; raises jsonschema.ValidationError."""
    schema = yaml.safe_load((CRDS / f"{obj['kind'].lower()}.yaml").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(_closed(schema)).validate(obj)


def validate_any(obj: dict[str, Any]) -> None:
    """Built-in kinds through kubernetes-validate (strict), custom kinds through the CRD fixtures."""
    if obj["apiVersion"].startswith("monitoring.coreos.com/"):
        validate_custom(obj)
        return
    import kubernetes_validate

    kubernetes_validate.validate(obj, "1.32.0", strict=True)


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """Base of the test servers: quiet, and answers JSON."""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ModelServer:
    """A stand-in inference server on 127.0.0.1 (integration tests only): /readyz, /healthz and
    /v1/predict answering the golden record's expected predictions, or their opposite when `wrong`."""

    def __init__(self, golden: dict[str, Any], *, wrong: bool = False, ready: bool = True):
        answers = {e["text"]: e["expected"] for e in golden["examples"]}
        server_self = self
        self.wrong, self.ready = wrong, ready
        self.model_sha256 = "stub"  # what a real server reports: the sha256 of its model file

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                if self.path == "/readyz":
                    self._send(200 if server_self.ready else 503, {"status": "ready" if server_self.ready else "loading"})
                else:
                    self._send(200 if self.path == "/healthz" else 404, {})

            def do_POST(self) -> None:
                texts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["texts"]
                preds = []
                for t in texts:
                    want = answers[t]
                    if server_self.wrong:
                        flipped = {k: round(1 - v, 7) for k, v in want["probabilities"].items()}
                        want = {"label": max(flipped, key=flipped.__getitem__), "probabilities": flipped}
                    preds.append(want)
                self._send(200, {"predictions": preds, "model_sha256": server_self.model_sha256})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
