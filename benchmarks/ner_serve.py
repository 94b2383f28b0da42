"""NER serving (issue 15): the ml-ci server (the `ml-ci export` folder served as `ml-ci serve` runs it: ONNX,
micro-batching) against `transformers.pipeline("token-classification", aggregation_strategy="first")` on the
same PyTorch model behind FastAPI/uvicorn, side by side on this machine, on CoNLL-2003 test sentences
(each sent as raw text: its words joined by single spaces). Not a test: it prints medians and ratios:

    throughput at concurrency 16 (requests/s)   ml-ci / baseline >= 3
    p50 latency at concurrency 1                ml-ci / baseline <= 0.5
    entities on the golden sentences            identical (type, start, end; score within --tolerance)

The model: an ml-ci model repository already trained (--repo, e.g. the one ner_train.py left with --workdir),
else one trained here with `ml-ci train` on the first --train-sentences of CoNLL-2003 train (1 epoch); then
`ml-ci export --no-cache` (checked to have computed). The baseline serves that repository's PyTorch model
(.ml-ci/artifacts/train/model), so both sides hold the same weights. Each load phase runs one server at a
time (the other stopped) for --seconds, --runs times, interleaved; the load generator is a pool of keep-alive
HTTP clients in this process, one text per request; the two servers get the same requests. Only 127.0.0.1.

The golden sentences: the texts of the export's golden.json when it holds them (else the first --golden
sentences of test); the first --golden test sentences are compared the same way too. A difference is
expected where the pipeline's words are not CoNLL's: the pipeline takes a word to be what BERT's
pre-tokenizer makes of the text (it splits `U.S.` at the periods and `AL-AIN` at the hyphen, and tags each
piece from its own first subword), while ml-ci's server splits raw text with `words.split` (which keeps both
whole, as CoNLL does): the report counts the differing sentences that hold such a word.

    .venv/bin/python benchmarks/ner_serve.py [--conll ../shared/datasets/conll2003] [--repo DIR]
        [--train-sentences 1000] [--seconds 10] [--runs 3] [--golden 100] [--baseline-only DIR]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _ner_common import DATA, loadavg, ml_ci, ml_yaml, read, timed, write  # noqa: E402
from serve import free_port, running  # noqa: E402  (benchmarks/serve.py: start a server, wait for /readyz, stop it)

MAX_LENGTH = 128

# The baseline as one writes it: the pipeline with word aggregation ("first": a word's tag is its first
# subword's), the same request and answer shapes as ml-ci's server ({"texts": [...]} -> predictions/entities).
BASELINE_APP = """
import sys
from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline
import uvicorn

model_dir, port = sys.argv[1], int(sys.argv[2])
ner = pipeline("token-classification", model=model_dir, device="cpu", aggregation_strategy="first")
app = FastAPI()


class Request(BaseModel):
    texts: list[str]


@app.get("/readyz")
def ready() -> dict:
    return {"status": "ready"}


@app.post("/v1/predict")
def predict(request: Request) -> dict:
    out = ner(request.texts)
    return {"predictions": [{"entities": [{"type": e["entity_group"], "start": int(e["start"]), "end": int(e["end"]),
                                           "text": text[e["start"]:e["end"]], "score": float(e["score"])} for e in entities]}
                            for text, entities in zip(request.texts, out)]}


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


def ours(export: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ml_ci.serve",
        "--model",
        str(export),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-batch-size",
        "32",
        "--max-batch-delay-ms",
        "5",
    ]


def baseline(model_dir: Path, port: int, app: Path) -> list[str]:
    return [sys.executable, str(app), str(model_dir), str(port)]


def load(port: int, texts: list[str], concurrency: int, seconds: float) -> tuple[float, float, int]:
    """(requests/s, p50 latency in ms, errors) of `concurrency` keep-alive clients, one text per request."""
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        k = i
        while not stop.is_set():
            body = json.dumps({"texts": [texts[k % len(texts)]]}).encode()
            k += concurrency
            started = time.perf_counter()
            try:
                conn.request("POST", "/v1/predict", body=body, headers={"Content-Type": "application/json"})
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


def entities_of(port: int, texts: list[str]) -> list[list[dict[str, Any]]]:
    """Each text's entities, one request per text (no batching effect on the answers compared)."""
    from ml_ci.serving_client import http_json

    out = []
    for text in texts:
        status, body = http_json(f"http://127.0.0.1:{port}/v1/predict", {"texts": [text]}, timeout=60)
        if status != 200:
            sys.exit(f"benchmark error: {status} from port {port} for {text!r}: {body}")
        out.append(body["predictions"][0]["entities"])
    return out


def compare(
    texts: list[str], a: list[list[dict[str, Any]]], b: list[list[dict[str, Any]]], tolerance: float, split_words: Any
) -> dict[str, Any]:
    """Sentences whose entities agree in (type, start, end) and score within tolerance; of the others, how many
    hold a word the pipeline splits differently (see the module docstring), and a few examples."""
    same, spans_same, differing, explained = 0, 0, 0, 0
    examples: list[dict[str, Any]] = []
    worst = 0.0
    for text, x, y in zip(texts, a, b, strict=True):
        kx = [(e["type"], e["start"], e["end"]) for e in x]
        ky = [(e["type"], e["start"], e["end"]) for e in y]
        if kx == ky:
            spans_same += 1
            gap = max((abs(float(p["score"]) - float(q["score"])) for p, q in zip(x, y, strict=True)), default=0.0)
            worst = max(worst, gap)
            if gap <= tolerance:
                same += 1
                continue
        differing += 1
        explained += bool(split_words(text))
        if len(examples) < 5:
            examples.append({"text": text, "ml-ci": kx, "pipeline": ky})
    return {
        "sentences": len(texts),
        "identical": same,
        "same_spans": spans_same,
        "differing": differing,
        "differing_with_a_word_the_pipeline_splits": explained,
        "max_score_gap_on_same_spans": worst,
        "examples": examples,
    }


def pipeline_splits(text: str) -> bool:
    """Whether the text holds a word (as ml-ci's words.split finds it) that BERT's pre-tokenizer cuts in pieces."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    from ml_ci.tasks.token_classification.words import split

    pre = BertPreTokenizer()
    return any(len(pre.pre_tokenize_str(w.text)) > 1 for w in split(text))


def golden_texts(export: Path, fallback: list[str]) -> tuple[list[str], str]:
    """The export's golden.json texts when its examples hold a text (or words), else the fallback."""
    try:
        examples = json.loads((export / "golden.json").read_text(encoding="utf-8"))["examples"]
        texts = []
        for e in examples:
            if isinstance(e.get("text"), str):
                texts.append(e["text"])
            elif isinstance(e.get("tokens"), list):
                texts.append(" ".join(e["tokens"]))
        if texts:
            return texts, f"export's golden.json ({len(texts)} examples)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return fallback, f"first {len(fallback)} CoNLL-2003 test sentences"


def prepare(args: argparse.Namespace, work: Path) -> Path:
    """A trained model repository: --repo, else one trained here. Exported with `ml-ci export --no-cache`."""
    if args.repo is not None:
        repo: Path = args.repo.resolve()
    else:
        repo = work / "repo"
        write(repo / "data/train.jsonl", read(args.conll, "train", args.train_sentences))
        write(repo / "data/validation.jsonl", read(args.conll, "validation", 300))
        write(repo / "data/test.jsonl", read(args.conll, "test", 300))
        (repo / "ml.yaml").write_text(
            ml_yaml(epochs=1, batch=32, lr="1.0e-4", seed=42, max_length=MAX_LENGTH, warmup=0.1, weight_decay=0.01),
            encoding="utf-8",
        )
        print(f"training on the first {args.train_sentences} CoNLL-2003 train sentences (ml-ci train) ...", flush=True)
        trained = timed(ml_ci("train", "--no-cache"), repo)
        if "train: trained:" not in trained.output:
            sys.exit("benchmark error: `ml-ci train` did not train:\n" + trained.output[-2000:])
    exported = timed(ml_ci("export", "--no-cache"), repo)
    if "cache hit" in exported.output:
        sys.exit("benchmark error: `ml-ci export --no-cache` reported a cache hit:\n" + exported.output[-2000:])
    print(f"exported in {exported.seconds:.0f} s", flush=True)
    return repo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conll", type=Path, default=DATA, help="CoNLL-2003 folder ({train,validation,test}.jsonl)")
    parser.add_argument("--repo", type=Path, default=None, help="an ml-ci model repository already trained (ml-ci train)")
    parser.add_argument("--train-sentences", type=int, default=1000, help="without --repo: train on the first N (default 1000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each phase (default 3)")
    parser.add_argument("--golden", type=int, default=100, help="also compare the first N test sentences (default 100)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest score difference counted identical")
    parser.add_argument(
        "--baseline-only",
        type=Path,
        default=None,
        metavar="MODEL_DIR",
        help="serve a PyTorch model folder with the pipeline alone",
    )
    args = parser.parse_args(argv)
    sentences = read(args.conll, "test")
    texts = [" ".join(s.tokens) for s in sentences]
    work = Path(tempfile.mkdtemp(prefix="ml-ci-bench-ner-serve-"))
    try:
        return measure(args, work, texts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path, texts: list[str]) -> int:
    app = work / "baseline_app.py"
    app.write_text(BASELINE_APP, encoding="utf-8")
    if args.baseline_only is not None:
        port = free_port()
        with running(baseline(args.baseline_only.resolve(), port, app), port):
            rps16, _, err16 = load(port, texts, 16, args.seconds)
            _, p50, err1 = load(port, texts, 1, args.seconds)
            print(json.dumps(entities_of(port, texts[:3]), indent=1))
        print(f"pipeline alone: {rps16:.1f} req/s at c=16, p50 {p50:.1f} ms at c=1, errors {err16 + err1}; load {loadavg()}")
        return 0
    repo = prepare(args, work)
    export = repo / ".ml-ci/artifacts/export"
    model_dir = repo / ".ml-ci/artifacts/train/model"
    servers: dict[str, Callable[[int], list[str]]] = {
        "ml-ci": lambda p: ours(export, p),
        "baseline": lambda p: baseline(model_dir, p, app),
    }
    results: dict[str, list[float]] = {}
    loads = [f"before: {loadavg()}"]
    golden, golden_from = golden_texts(export, texts[: args.golden])
    sample = texts[: args.golden]  # beside golden.json's few: more sentences compared the same way
    answers: dict[str, list[list[dict[str, Any]]]] = {}
    for run in range(args.runs):
        for name, command in servers.items():
            port = free_port()
            with running(command(port), port):
                if run == 0:
                    answers[name] = entities_of(port, golden)
                    answers[f"{name} sample"] = entities_of(port, sample)
                load(port, texts, 4, 2.0)  # warm-up
                rps16, _, err16 = load(port, texts, 16, args.seconds)
                _, p50, err1 = load(port, texts, 1, args.seconds)
                results.setdefault(f"{name} rps16", []).append(rps16)
                results.setdefault(f"{name} p50", []).append(p50)
                results.setdefault(f"{name} errors", []).append(err16 + err1)
            print(
                f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in results.items()) + f"; load {loadavg()}", flush=True
            )
    loads.append(f"after: {loadavg()}")
    med = {k: statistics.median(v) for k, v in results.items()}
    agreement = compare(golden, answers["ml-ci"], answers["baseline"], args.tolerance, pipeline_splits)
    on_sample = compare(sample, answers["ml-ci sample"], answers["baseline sample"], args.tolerance, pipeline_splits)
    tput, lat = med["ml-ci rps16"] / med["baseline rps16"], med["ml-ci p50"] / med["baseline p50"]
    print(f"\nmedians of {args.runs} runs, {args.seconds:.0f} s each, on {os.cpu_count()} cores; CoNLL-2003 test sentences")
    print(
        f"throughput c=16: ml-ci {med['ml-ci rps16']:.1f} req/s, pipeline+FastAPI {med['baseline rps16']:.1f} req/s: "
        f"{tput:.2f}x (target >= 3) {'met' if tput >= 3 else 'NOT met'}"
    )
    print(
        f"p50 c=1: ml-ci {med['ml-ci p50']:.1f} ms, pipeline+FastAPI {med['baseline p50']:.1f} ms: {lat:.2f}x "
        f"(target <= 0.5) {'met' if lat <= 0.5 else 'NOT met'}"
    )
    print(
        f"errors: ml-ci {sum(results['ml-ci errors']):.0f}, baseline {sum(results['baseline errors']):.0f}; "
        f"load {'; '.join(loads)}"
    )
    print(f"golden sentences ({golden_from}): " + json.dumps(agreement, indent=1))
    print(
        f"the first {len(sample)} test sentences: " + json.dumps({**on_sample, "examples": on_sample["examples"][:2]}, indent=1)
    )
    print(
        json.dumps(
            {
                "benchmark": "ner_serve",
                "ratios": {
                    "NER throughput c=16 ml-ci / pipeline+FastAPI": {
                        "value": tput,
                        "target": ">= 3",
                        "ours": f"{med['ml-ci rps16']:.1f} req/s",
                        "baseline": f"{med['baseline rps16']:.1f} req/s",
                    },
                    "NER p50 latency c=1 ml-ci / pipeline+FastAPI": {
                        "value": lat,
                        "target": "<= 0.5",
                        "ours": f"{med['ml-ci p50']:.1f} ms",
                        "baseline": f"{med['baseline p50']:.1f} ms",
                    },
                    "NER golden sentences with identical entities": {
                        "value": agreement["identical"] / agreement["sentences"],
                        "unit": "of sentences",
                        "target": ">= 1.0",
                        "ours": f"{agreement['identical']}/{agreement['sentences']}",
                    },
                    f"NER first {len(sample)} test sentences with identical entities": {
                        "value": on_sample["identical"] / on_sample["sentences"],
                        "unit": "of sentences",
                        "ours": f"{on_sample['identical']}/{on_sample['sentences']}, of the others "
                        f"{on_sample['differing_with_a_word_the_pipeline_splits']} hold a word the pipeline splits",
                    },
                },
                "conditions": {
                    "model": "all-MiniLM-L6-v2 token classification, ONNX fp32 (ml-ci) / PyTorch (pipeline)",
                    "repo": str(args.repo) if args.repo else f"trained here on {args.train_sentences} sentences, 1 epoch",
                    "seconds": args.seconds,
                    "runs": args.runs,
                    "texts": "CoNLL-2003 test, words joined by spaces",
                    "golden": golden_from,
                    "load": loads,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
