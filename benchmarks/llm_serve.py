"""LLM serving (issue 17): the ml-ci server (`python -m ml_ci.serve` on an `ml-ci export` folder: ONNX Runtime GenAI,
its engine batching concurrent sequences) against `transformers` `generate` behind FastAPI/uvicorn (PyTorch, one
`generate` per request in its own thread, streamed), side by side on this machine, on the same model, the same
prompts, greedy, the same max_tokens. Not a test: it prints medians and ratios against these targets:

    output tokens per second at concurrency 8        ml-ci / baseline >= 3
    time to first token p50 at concurrency 1         ml-ci / baseline <= 0.5
    start to ready (process; with --image the container too)        < 5 s (the example's model)
    image size (with --image: the ml-ci image against the same model in a torch image)   ml-ci / torch <= 0.25

The model: a text-generation model repository made as llm_evaluate.py makes one (_llm_common: the assistant
example's records, a random Llama of the example's size, or --hidden/--layers, e.g. 640/8 for a 29M one; not 512,
whose projections are as wide as the 512-token vocabulary, which the export refuses), with model.max_length
--max-length. By default the base itself is the trained model (`--train-epochs 0`: a full model,
what merging a LoRA adapter gives, of the same shape and cost per token): its random weights seldom end at the
end-of-sequence token, so every request generates about max_tokens tokens and tokens per second is the speed of
generation rather than of the HTTP round trip (a trained adapter here answers in a few tokens). `--train-epochs N`
trains a LoRA adapter with `ml-ci train` first (unmeasured); the baseline then serves it merged
(merge_and_unload), as `ml-ci export` converts it. `ml-ci export --no-cache` makes the served folder (checked to
have computed: parity and golden prompts included).

The prompts: SST-2 sentences (--data, dev.tsv; the only real English text here: no instruction data set and no
pretrained LLM can be had on this machine) sent as completion prompts, those of at most --max-length tokens (so that
neither side cuts one), in file order. Both servers get the same OpenAI-style request, `POST /v1/completions
{"prompt", "max_tokens", "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}`, and send
server-sent events; the baseline hands each new token's text to the client as it comes (a `BaseStreamer` that
decodes the tokens so far, holding back only an incomplete character: transformers' TextIteratorStreamer holds text
back to the next space, which would add a word to the baseline's time to first token). The completions are
compared side by side (the same greedy tokens of the same weights; fp32 PyTorch and ONNX Runtime may differ on a
near tie).

Each run starts one server at a time (the other stopped), the order alternating, and measures: start to ready
(from the process's start to /readyz answering 200), one warm-up request, time to first token at concurrency 1
(--ttft-requests requests, one after the other: the time from sending the request to the first event with text),
then output tokens per second at concurrency 8 (--requests requests, 8 clients taking the next prompt as each
finishes: all the completion tokens (`usage.completion_tokens`) over the wall time from the first request sent to
the last answer). `--threads N` gives each side N compute threads (ml-ci's --threads; OMP_NUM_THREADS and
torch.set_num_threads for the baseline). Only 127.0.0.1.

    .venv/bin/python benchmarks/llm_serve.py [--data ../shared/datasets/sst2] [--hidden 64 --layers 2]
        [--max-tokens 64] [--requests 32] [--ttft-requests 8] [--runs 3] [--threads 1] [--image]
        [--sides ml-ci,baseline] [--train-epochs 0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _llm_common import base_model, copy_data, in_workdir, loadavg, ml_yaml, training_settings  # noqa: E402
from train import ENV, ml_ci, timed  # noqa: E402  (benchmarks/train.py: the environment, a process run to its end)

SST2 = ROOT.parent / "shared/datasets/sst2"
CONCURRENCY = 8
TTFT_TARGET, TOKENS_TARGET, READY_TARGET, IMAGE_TARGET = 0.5, 3.0, 5.0, 0.25

# The baseline as one writes it: the model and tokenizer loaded once, each request's `generate` in a thread of its
# own feeding a queue through a streamer, its tokens sent as server-sent events in OpenAI's shapes (the subset the
# benchmark asks for). A sync generator in StreamingResponse runs in Starlette's thread pool, so requests overlap.
BASELINE_APP = r'''
import json, queue, sys, threading, time
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer
import uvicorn

model_dir, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
if threads:
    torch.set_num_threads(threads)
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
app = FastAPI()


class TokenStreamer(BaseStreamer):
    """Each new token to a queue (the prompt, which generate puts first, skipped); None at the end."""

    def __init__(self):
        self.tokens, self.prompt_seen = queue.Queue(), False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for t in value.reshape(-1).tolist():
            self.tokens.put(int(t))

    def end(self):
        self.tokens.put(None)


@app.get("/readyz")
def ready():
    return {"status": "ready"}


def event(payload):
    return f"data: {json.dumps(payload)}\n\n"


@app.post("/v1/completions")
async def completions(request: Request):
    body = await request.json()
    ids = tok(body["prompt"], return_tensors="pt")
    limit = int(body.get("max_tokens", 16))
    streamer = TokenStreamer()
    kwargs = dict(**ids, max_new_tokens=limit, do_sample=False, streamer=streamer, pad_token_id=tok.eos_token_id)
    threading.Thread(target=lambda: model.generate(**kwargs), daemon=True).start()
    cid, created = f"cmpl-{id(streamer):x}", int(time.time())

    def chunk(text, finish=None):
        return {"id": cid, "object": "text_completion", "created": created, "model": "baseline",
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}]}

    def run():
        out, shown, eos = [], "", False
        while True:
            t = streamer.tokens.get()
            if t is None:
                break
            if t == tok.eos_token_id:
                eos = True
                continue
            out.append(t)
            text = tok.decode(out, skip_special_tokens=True)
            if text.endswith("\ufffd"):  # a character split over tokens: wait for its last one
                continue
            if len(text) > len(shown):
                yield text[len(shown):], out
                shown = text
        yield None, (out, "stop" if eos or len(out) < limit else "length", tok.decode(out, skip_special_tokens=True)[len(shown):])

    def stream():
        for piece, info in run():
            if piece is not None:
                yield event(chunk(piece))
            else:
                out, finish, rest = info
                yield event(chunk(rest, finish))
                usage = {"prompt_tokens": int(ids["input_ids"].shape[1]), "completion_tokens": len(out)}
                yield event({**chunk("")} | {"choices": [], "usage": {**usage, "total_tokens": sum(usage.values())}})
        yield "data: [DONE]\n\n"

    if body.get("stream"):
        return StreamingResponse(stream(), media_type="text/event-stream")
    pieces = list(run())
    out, finish, rest = pieces[-1][1]
    return JSONResponse(chunk("".join(p for p, _ in pieces[:-1]) + rest, finish))


uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
'''

# The same model in a torch image, as one ships the baseline: on the same base image as ml-ci's, torch from the CPU
# wheel on this machine (--torch-wheel; PyPI's torch for Linux is the CUDA build, several times larger), transformers
# at the host's version, FastAPI and uvicorn from the package index.
TORCH_DOCKERFILE = """FROM {base}
COPY {wheel} /tmp/{wheel}
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir --no-deps /tmp/{wheel} \\
 && /opt/venv/bin/pip install --no-cache-dir filelock typing-extensions sympy networkx jinja2 fsspec \\
    transformers=={transformers} fastapi uvicorn && rm /tmp/{wheel}
COPY model/ /opt/model/
COPY app.py /opt/app.py
USER 10001:10001
ENTRYPOINT ["/opt/venv/bin/python", "/opt/app.py", "/opt/model"]
CMD ["8080", "0"]
"""


def prompts(data: Path, tokenizer: Path, max_tokens: int, n: int) -> list[str]:
    """The first n SST-2 dev sentences of at most max_tokens tokens (the served tokenizer's count)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    with (data / "dev.tsv").open(encoding="utf-8") as f:
        rows = [row["sentence"] for row in csv.DictReader(f, delimiter="\t")]
    kept = [s for s in rows if len(tok.encode(s).ids) <= max_tokens][:n]
    if len(kept) < n:
        sys.exit(f"--data {data}: only {len(kept)} dev sentences of at most {max_tokens} tokens; ask for fewer requests")
    return kept


@dataclass(frozen=True)
class Answer:
    text: str
    tokens: int  # usage.completion_tokens
    first_s: float  # from sending the request to the first event with text (nan when none came)
    total_s: float
    error: str = ""


def complete(port: int, prompt: str, max_tokens: int, conn: http.client.HTTPConnection | None = None) -> Answer:
    """One streamed completion: its text, tokens, time to first text and total time, read event by event."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    body = {
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first, text, tokens = float("nan"), [], -1
    try:
        conn.request("POST", "/v1/completions", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            return Answer("", 0, first, time.perf_counter() - started, f"HTTP {response.status}: {response.read()[:300]!r}")
        while True:
            line = response.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            event = json.loads(data)
            for choice in event.get("choices") or []:
                if choice.get("text"):
                    if first != first:  # nan: the first text
                        first = time.perf_counter() - started
                    text.append(choice["text"])
            if event.get("usage"):
                tokens = int(event["usage"]["completion_tokens"])
        response.read()
    except (OSError, http.client.HTTPException, ValueError) as e:
        return Answer("".join(text), 0, first, time.perf_counter() - started, repr(e))
    finally:
        if own:
            conn.close()
    if tokens < 0:
        return Answer("".join(text), 0, first, time.perf_counter() - started, "no usage event")
    return Answer("".join(text), tokens, first, time.perf_counter() - started)


def at_concurrency(port: int, texts: list[str], max_tokens: int, concurrency: int) -> tuple[list[Answer], float]:
    """Every prompt once, `concurrency` keep-alive clients taking the next as each finishes; the answers in prompt
    order and the wall time from the first request to the last answer."""
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(texts)):
        todo.put(i)
    answers: list[Answer | None] = [None] * len(texts)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                break
            answers[i] = complete(port, texts[i], max_tokens, conn)
            if answers[i].error:  # type: ignore[union-attr]
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.close()

    workers = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [a for a in answers if a is not None], time.perf_counter() - started


@contextmanager
def serving(command: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[float]:
    """The server started; yields the seconds from its start to /readyz answering 200 (polled every 20 ms)."""
    with log.open("ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            while True:
                if process.poll() is not None:
                    sys.exit(f"{command[:4]} stopped before it was ready (exit {process.returncode}); see {log}")
                if time.perf_counter() - started > 300:
                    sys.exit(f"{command[:4]} not ready within 300 s; see {log}")
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        conn.close()
                        break
                    conn.close()
                except OSError:
                    pass
                time.sleep(0.02)
            yield time.perf_counter() - started
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_port() -> int:
    from ml_ci.net import free_port as free

    return free()


def make_model(args: argparse.Namespace, work: Path) -> tuple[Path, Path, Path, str]:
    """(the repository, its export folder, the merged PyTorch folder the baseline serves, what the model is)."""
    repo = work / "repo"
    counts = copy_data(args.records.resolve(), repo)
    base, in_yaml, described = base_model(args.base, repo, hidden=args.hidden, layers=args.layers)
    settings = training_settings(
        base, in_yaml, epochs=max(args.train_epochs, 1), max_length=args.max_length, hub_base=bool(args.base)
    )
    image = f"""image:
  registry: 127.0.0.1:5000
  repository: ml-ci-bench/llm-serve
  base: {args.base_image}
"""
    (repo / "ml.yaml").write_text(ml_yaml(settings) + image, encoding="utf-8")
    trained = repo / ".ml-ci/artifacts/train/model"
    if args.train_epochs > 0:
        done = timed(ml_ci("train"), repo, log=args.log)
        described += f", a LoRA adapter trained {args.train_epochs} epoch(s) by `ml-ci train` ({done.seconds:.0f} s), merged"
    else:
        shutil.copytree(base, trained, dirs_exist_ok=True)
        described += ", served as it is (no adapter: a full model)"
    outputs = work / "github-output.txt"
    outputs.unlink(missing_ok=True)
    ENV["GITHUB_OUTPUT"] = str(outputs)
    done = timed(ml_ci("export", "--no-cache"), repo, log=args.log)
    if "cache-hit=false" not in outputs.read_text(encoding="utf-8").splitlines():
        sys.exit("benchmark error: `ml-ci export --no-cache` did not compute")
    merged = trained
    if (trained / "adapter_config.json").is_file():
        merged = work / "merged"
        script = (
            "import sys, torch; from peft import PeftModel; from transformers import AutoModelForCausalLM, AutoTokenizer; "
            "m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32); "
            "PeftModel.from_pretrained(m, sys.argv[2]).merge_and_unload().save_pretrained(sys.argv[3]); "
            "AutoTokenizer.from_pretrained(sys.argv[2]).save_pretrained(sys.argv[3])"
        )
        timed([sys.executable, "-c", script, base, str(trained), str(merged)], repo, log=args.log)
    print(f"model: {described}; records {counts}; exported in {done.seconds:.0f} s", flush=True)
    return repo, repo / ".ml-ci/artifacts/export", merged, described


def container_ready(
    client: Any, image: str, runs: int, *, environment: dict[str, str], command: Callable[[int], list[str]] | None = None
) -> tuple[list[float], Answer]:
    """Start the image `runs` times (host network, a free port): the seconds from `docker run` to /readyz answering
    200 each time, and one completion from the last (that the image serves at all)."""
    ready: list[float] = []
    answer = Answer("", 0, float("nan"), 0.0, "not run")
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        container = client.containers.run(
            image,
            command=command(port) if command else None,
            detach=True,
            network_mode="host",
            environment={**environment, "ML_CI_SERVE_HOST": "127.0.0.1", "ML_CI_SERVE_PORT": str(port)},
        )
        try:
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/readyz")
                    ok = conn.getresponse().status == 200
                    conn.close()
                    if ok:
                        break
                except OSError:
                    pass
                container.reload()
                if container.status == "exited" or time.perf_counter() - started > 180:
                    sys.exit(f"{image} was not ready ({container.status}): {container.logs()[-2000:]!r}")
                time.sleep(0.02)
            ready.append(time.perf_counter() - started)
            answer = complete(port, "one long string of cliches .", 8)
        finally:
            container.remove(force=True)
    return ready, answer


def image_sizes(args: argparse.Namespace, repo: Path, merged: Path, app: Path, work: Path) -> dict[str, Any]:
    """The ml-ci image (`ml-ci build`, its golden prompts checked, not pushed) and the same model in a torch image:
    their sizes as the engine reports them, and each container's start to ready (--runs times, at least 3). Both
    images are removed afterwards (the torch one is 1.5 GB)."""
    from importlib.metadata import version

    import docker

    from ml_ci.build.stage import run_build
    from ml_ci.config import load_config

    record = run_build(load_config(repo / "ml.yaml").config, push=False, log=lambda _s: None).record
    if record.size is None:
        sys.exit("benchmark error: the Docker engine reported no size for the ml-ci image")
    client = docker.from_env()
    runs = max(args.runs, 3)
    ours_ready, ours_answer = container_ready(client, record.reference, runs, environment={})
    wheel = Path(args.torch_wheel)
    if not wheel.is_file():
        sys.exit(f"--torch-wheel {args.torch_wheel!r}: no such wheel (a torch CPU wheel for the torch image)")
    context = work / "torch-context"
    context.mkdir(exist_ok=True)
    shutil.copyfile(wheel, context / wheel.name)
    (context / "Dockerfile").write_text(
        TORCH_DOCKERFILE.format(base=args.base_image, wheel=wheel.name, transformers=version("transformers")), encoding="utf-8"
    )
    shutil.copyfile(app, context / "app.py")
    shutil.copytree(merged, context / "model", dirs_exist_ok=True)
    for path in (context / "model").rglob("*"):  # safetensors writes 0600; the image's user 10001 must read them
        path.chmod(0o755 if path.is_dir() else 0o644)
    tag = "ml-ci-bench/llm-torch-serve:latest"
    image, _ = client.images.build(path=str(context), tag=tag, network_mode="host", rm=True, forcerm=True)
    theirs_ready, theirs_answer = container_ready(
        client, tag, runs, environment={"HOME": "/tmp", "HF_HUB_OFFLINE": "1"}, command=lambda port: [str(port), "0"]
    )
    for answer, name in ((ours_answer, "ml-ci"), (theirs_answer, "torch")):
        if answer.error or not answer.tokens:
            sys.exit(f"benchmark error: the {name} image did not complete a prompt: {answer}")
    for reference in (tag, record.reference):
        client.images.remove(reference, force=True)
    return {
        "ours": record.size,
        "theirs": int(image.attrs["Size"]),
        "reference": record.reference,
        "ready": ours_ready,
        "torch ready": theirs_ready,
        "same": ours_answer.text == theirs_answer.text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SST2, help="SST-2 folder (dev.tsv): the prompts")
    parser.add_argument("--records", type=Path, default=ROOT / "examples/assistant/data", help="the repository's records")
    parser.add_argument("--base", default=None, help="base model: a folder or hub id (default: a tiny random Llama)")
    parser.add_argument("--hidden", type=int, default=64, help="the random Llama's hidden size (default 64, the example's)")
    parser.add_argument("--layers", type=int, default=2, help="the random Llama's layers (default 2, the example's)")
    parser.add_argument("--train-epochs", type=int, default=0, help="0: serve the base as it is; N: a LoRA adapter, merged")
    parser.add_argument("--max-length", type=int, default=128, help="model.max_length; the longest prompt sent (tokens)")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens of every request (default 64)")
    parser.add_argument("--requests", type=int, default=32, help="requests at concurrency 8 per run (default 32)")
    parser.add_argument("--ttft-requests", type=int, default=8, help="requests at concurrency 1 per run (default 8)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each side (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="compute threads of each side (0: each side's default)")
    parser.add_argument("--sides", default="ml-ci,baseline", help="which servers to run (comma-separated)")
    parser.add_argument("--image", action="store_true", help="also build both images: sizes, the container's start to ready")
    parser.add_argument("--base-image", default=os.environ.get("ML_CI_TEST_BASE_IMAGE", "ml-ci-base:bookworm"))
    parser.add_argument("--torch-wheel", default=next(iter(sorted(Path("/opt/wheels").glob("torch-*+cpu-*.whl"))), ""))
    parser.add_argument("--log", type=Path, default=None, help="append every process's output here")
    parser.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: a temporary folder)")
    args = parser.parse_args()
    in_workdir(args, "ml-ci-bench-llm-serve-", run)


def run(args: argparse.Namespace, work: Path) -> None:
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    if not set(sides) <= {"ml-ci", "baseline"} or not sides:
        sys.exit(f"--sides {args.sides!r}: ml-ci, baseline or both")
    load_before = loadavg()
    repo, export, merged, described = make_model(args, work)
    texts = prompts(args.data, export / "tokenizer.json", args.max_length, max(args.requests, args.ttft_requests) + 1)
    warm, ttft_texts, batch_texts = texts[-1], texts[: args.ttft_requests], texts[: args.requests]
    app = work / "baseline_app.py"
    app.write_text(BASELINE_APP, encoding="utf-8")
    env = {**ENV}
    if args.threads:
        env.update({"OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)})
    commands: dict[str, Callable[[int], list[str]]] = {
        "ml-ci": lambda p: [
            sys.executable,
            "-m",
            "ml_ci.serve",
            "--model",
            str(export),
            "--host",
            "127.0.0.1",
            "--port",
            str(p),
            "--threads",
            str(args.threads),
            "--max-sequences",
            str(CONCURRENCY),
            "--max-tokens",
            str(max(args.max_tokens, 1)),
        ],
        "baseline": lambda p: [sys.executable, str(app), str(merged), str(p), str(args.threads)],
    }
    names = {"ml-ci": "ml-ci server", "baseline": "transformers generate + FastAPI"}
    ready: dict[str, list[float]] = {s: [] for s in sides}
    ttft: dict[str, list[float]] = {s: [] for s in sides}
    rate: dict[str, list[float]] = {s: [] for s in sides}
    token_counts: dict[str, list[int]] = {s: [] for s in sides}
    errors: dict[str, list[str]] = {s: [] for s in sides}
    completions: dict[str, dict[int, str]] = {s: {} for s in sides}
    loads: list[str] = []
    server_log = work / "servers.log"
    print(
        f"{len(batch_texts)} requests at concurrency {CONCURRENCY} and {len(ttft_texts)} at concurrency 1 per run, "
        f"max_tokens {args.max_tokens}, greedy, streamed; {args.runs} runs interleaved; threads: "
        f"{args.threads or 'each side default'}; load {load_before}",
        flush=True,
    )
    for i in range(args.runs):
        for side in sides if i % 2 == 0 else sides[::-1]:
            port = free_port()
            before = loadavg()
            with serving(commands[side](port), port, server_log, env) as seconds:
                ready[side].append(seconds)
                complete(port, warm, args.max_tokens)  # warm-up, not measured
                singles = [complete(port, t, args.max_tokens) for t in ttft_texts]
                many, wall = at_concurrency(port, batch_texts, args.max_tokens, CONCURRENCY)
            after = loadavg()
            loads.append(f"{side} run {i + 1}: {before} -> {after}")
            failed = [a.error for a in singles + many if a.error]
            errors[side] += failed
            ttft[side].append(
                statistics.median(a.first_s for a in singles if not a.error) * 1000
                if len(failed) < len(singles)
                else float("nan")
            )
            tokens = sum(a.tokens for a in many)
            token_counts[side].append(tokens)
            rate[side].append(tokens / wall)
            for k, a in enumerate(many):
                completions[side].setdefault(k, a.text)
            print(
                f"  run {i + 1} {names[side]}: ready {seconds:.2f} s, TTFT p50 (c=1) {ttft[side][-1]:.1f} ms, "
                f"{tokens} tokens in {wall:.2f} s at c={CONCURRENCY}: {tokens / wall:.1f} tokens/s, errors {len(failed)}"
                f"{' (' + failed[0][:200] + ')' if failed else ''}; load {before} -> {after}",
                flush=True,
            )
    med = {k: {s: statistics.median(v[s]) for s in sides} for k, v in (("ready", ready), ("ttft", ttft), ("rate", rate))}
    print(f"\nmedians of {args.runs} runs ({described}; {len(batch_texts)} SST-2 prompts, max_tokens {args.max_tokens}):")
    for side in sides:
        print(
            f"  {names[side]:<32} {med['rate'][side]:8.1f} tokens/s at c={CONCURRENCY}, TTFT p50 {med['ttft'][side]:7.1f} ms "
            f"at c=1, start to ready {med['ready'][side]:.2f} s; completion tokens per run {token_counts[side]}"
        )
    ratios: dict[str, dict[str, object]] = {}
    if "ml-ci" in sides:
        ratios["LLM ml-ci server start to ready (process)"] = {
            "value": med["ready"]["ml-ci"],
            "unit": "s",
            "target": f"< {READY_TARGET:g}",
        }
    if len(sides) == 2:
        same = sum(completions["ml-ci"].get(k) == v for k, v in completions["baseline"].items())
        tokens_ratio = med["rate"]["ml-ci"] / med["rate"]["baseline"]
        ttft_ratio = med["ttft"]["ml-ci"] / med["ttft"]["baseline"]
        print(
            f"  output tokens/s ratio {tokens_ratio:.2f} (target >= {TOKENS_TARGET:g}: "
            f"{'met' if tokens_ratio >= TOKENS_TARGET else 'NOT met'}); TTFT p50 ratio {ttft_ratio:.2f} (target <= "
            f"{TTFT_TARGET:g}: {'met' if ttft_ratio <= TTFT_TARGET else 'NOT met'}); completions identical "
            f"{same}/{len(batch_texts)}"
        )
        ratios.update(
            {
                f"LLM output tokens/s at concurrency {CONCURRENCY}, ml-ci / transformers generate + FastAPI": {
                    "value": tokens_ratio,
                    "target": f">= {TOKENS_TARGET:g}",
                    "ours": f"{med['rate']['ml-ci']:.1f} tokens/s",
                    "baseline": f"{med['rate']['baseline']:.1f} tokens/s",
                },
                "LLM time to first token p50 at concurrency 1, ml-ci / transformers generate + FastAPI": {
                    "value": ttft_ratio,
                    "target": f"<= {TTFT_TARGET:g}",
                    "ours": f"{med['ttft']['ml-ci']:.1f} ms",
                    "baseline": f"{med['ttft']['baseline']:.1f} ms",
                },
                "LLM start to ready (process), ml-ci / transformers + FastAPI": {
                    "value": med["ready"]["ml-ci"] / med["ready"]["baseline"],
                    "ours": f"{med['ready']['ml-ci']:.2f} s",
                    "baseline": f"{med['ready']['baseline']:.2f} s",
                },
                "LLM completions identical to the baseline's": {"value": same / len(batch_texts), "unit": "share"},
            }
        )
    for side in sides:
        if errors[side]:
            print(f"  {names[side]}: {len(errors[side])} errors, the first: {errors[side][0][:300]}")
    print("load: " + "; ".join(loads), flush=True)
    if args.image:
        sizes = image_sizes(args, repo, merged, app, work)
        size_ratio = sizes["ours"] / sizes["theirs"]
        container = statistics.median(sizes["ready"])
        print(
            f"\nimages: ml-ci {sizes['ours'] / 1e6:.0f} MB ({sizes['reference']}), torch + transformers + FastAPI "
            f"{sizes['theirs'] / 1e6:.0f} MB: ratio {size_ratio:.3f} (target <= {IMAGE_TARGET:g}: "
            f"{'met' if size_ratio <= IMAGE_TARGET else 'NOT met'}); the ml-ci container's start to ready median "
            f"{container:.2f} s (runs {', '.join(f'{r:.2f}' for r in sizes['ready'])}; target < {READY_TARGET:g} s: "
            f"{'met' if container < READY_TARGET else 'NOT met'}); the torch container's median "
            f"{statistics.median(sizes['torch ready']):.2f} s (runs {', '.join(f'{r:.2f}' for r in sizes['torch ready'])}); "
            f"both images completed a prompt ({'the same text' if sizes['same'] else 'different texts'})",
            flush=True,
        )
        ratios["LLM image size, ml-ci / torch + transformers + FastAPI"] = {
            "value": size_ratio,
            "target": f"<= {IMAGE_TARGET:g}",
            "ours": f"{sizes['ours'] / 1e6:.0f} MB",
            "baseline": f"{sizes['theirs'] / 1e6:.0f} MB",
        }
        ratios["LLM ml-ci container start to ready"] = {"value": container, "unit": "s", "target": f"< {READY_TARGET:g}"}
        ratios["LLM container start to ready, ml-ci / torch + transformers + FastAPI"] = {
            "value": container / statistics.median(sizes["torch ready"]),
            "ours": f"{container:.2f} s",
            "baseline": f"{statistics.median(sizes['torch ready']):.2f} s",
        }
    conditions = {
        "model": described,
        "prompts": f"{len(batch_texts)} SST-2 dev sentences of at most {args.max_length} tokens ({args.data})",
        "generation": f"greedy, max_tokens {args.max_tokens}, streamed (server-sent events), both sides",
        "concurrency": f"{CONCURRENCY} ({len(batch_texts)} requests) for tokens/s; 1 ({len(ttft_texts)} requests) for TTFT",
        "runs": args.runs,
        "threads": args.threads or "each side's default",
        "load": [f"before {load_before}", *loads, f"after {loadavg()}"],
    }
    print(json.dumps({"benchmark": "llm_serve", "ratios": ratios, "conditions": conditions}))


if __name__ == "__main__":
    main()
