"""Soak of the ml-ci server (issue 13): steady load mixed with bad clients, then SIGTERMs under load.

Not a timed test: it runs `python -m ml_ci.serve` on a tiny exported model (made as the serving tests
make it: a 2-layer random BERT, so the figures measure the server, not a model) on 127.0.0.1 and prints:

    errors among the well-formed requests, steady phase     target 0
    requests sent and never answered, over the SIGTERMs    target 0

Steady phase: --seconds at --concurrency keep-alive clients; one client in sixteen sends only malformed
or unencodable requests (lone surrogates, a 5,000-digit number, broken JSON, an empty text, a wrong
Content-Type, wrong types), each of which must get its own 4xx while nobody else is disturbed.
SIGTERM phase: --sigterms times, a fresh server under the same load gets SIGTERM after --load-seconds;
the clients keep sending until it has exited. A request "sent and never answered" was written to a
connection that then reset or closed without an answer; a connection refused after the exit sent
nothing and is counted apart.

    .venv/bin/python benchmarks/soak.py [--seconds 60] [--concurrency 32] [--sigterms 5] [--drain-seconds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.test_serve_support import Case, Tally, client_loop, exported_repo, server, wait_exit  # noqa: E402

WORDS = ["the", "film", "was", "great", "awful", "plot", "dull", "lovely", "and", "but", "really", "not", "a", "movie"]
BAD = [
    Case(b'{"texts": ["fine", "\\udc80"]}', expect=400),  # a lone surrogate: the tokenizer cannot take it
    Case(b'{"text": "\\ud800"}', expect=400),
    Case(b'{"texts": ["a"], "n": ' + b"7" * 5000 + b"}", expect=400),  # beyond Python's int digit limit
    Case(b'{"texts": ["a",', expect=400),
    Case(b'{"text": ""}', expect=422),
    Case(b'{"texts": ["ok", "   "]}', expect=422),
    Case(b'{"texts": [1, 2]}', expect=422),
    Case(b'{"text": "a simple cross-site POST"}', expect=415, headers=(("Content-Type", "text/plain"),)),
]


def good_cases(n: int = 64) -> list[Case]:
    cases = []
    for i in range(n):
        texts = [" ".join(WORDS[(i * 7 + j * 3 + k) % len(WORDS)] for k in range(4 + (i + j) % 12)) for j in range(1 + i % 4)]
        cases.append(Case(json.dumps({"texts": texts}).encode(), texts=len(texts)))
    return cases


def is_bad_client(i: int) -> bool:
    return i % 16 == 15


def total(tallies: list[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out.add(t)
    return out


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def steady(model: Path, tmp: Path, seconds: float, concurrency: int) -> dict[str, float]:
    good, stop = good_cases(), threading.Event()
    with server(model, tmp) as s, ThreadPoolExecutor(concurrency) as pool:
        futures = [
            pool.submit(client_loop, s.port, stop, BAD if is_bad_client(i) else good[i:] + good[:i]) for i in range(concurrency)
        ]
        time.sleep(min(5.0, seconds / 6))
        rss_before = rss_mb(s.process.pid)
        time.sleep(seconds)
        stop.set()
        results = [f.result() for f in futures]
        rss_after = rss_mb(s.process.pid)
    well = total([r for i, r in enumerate(results) if not is_bad_client(i)])
    bad = total([r for i, r in enumerate(results) if is_bad_client(i)])
    errors = len(well.bad) + len(well.lost)
    seconds_run = seconds + min(5.0, seconds / 6)
    print(
        f"steady: {seconds_run:.0f} s at concurrency {concurrency}, {sum(map(is_bad_client, range(concurrency)))} "
        f"of the clients malformed or unencodable"
    )
    print(
        f"  well-formed requests: {well.sent} sent, {well.answered[200]} answered 200 "
        f"({well.answered[200] / seconds_run:.0f}/s), errors {errors} (target 0)"
    )
    for problem in (well.bad + well.lost)[:5]:
        print(f"    e.g. {problem}")
    print(
        f"  malformed requests: {bad.sent} sent, {bad.sent - len(bad.bad) - len(bad.lost)} answered with their own 4xx, "
        f"otherwise {len(bad.bad) + len(bad.lost)}; statuses {dict(sorted(bad.answered.items()))}"
    )
    print(f"  server RSS {rss_before:.0f} -> {rss_after:.0f} MB")
    return {
        "well_formed": well.sent,
        "errors": errors,
        "malformed": bad.sent,
        "malformed_wrong": len(bad.bad) + len(bad.lost),
        "rate": well.answered[200] / seconds_run,
    }


def sigterms(model: Path, tmp: Path, trials: int, concurrency: int, load_seconds: float, drain: float) -> dict[str, float]:
    good = good_cases()
    lost_total = sent_total = 0
    for trial in range(1, trials + 1):
        stop = threading.Event()
        with server(model, tmp, "--drain-seconds", str(drain)) as s, ThreadPoolExecutor(concurrency) as pool:
            futures = [
                pool.submit(client_loop, s.port, stop, BAD if is_bad_client(i) else good[i:] + good[:i])
                for i in range(concurrency)
            ]
            time.sleep(load_seconds)
            signalled = time.monotonic()
            s.process.send_signal(signal.SIGTERM)
            code = wait_exit(s.process, timeout=drain + 60)
            took = time.monotonic() - signalled
            time.sleep(0.5)  # the clients meet the closed port: refused, nothing sent
            stop.set()
            t = total([f.result() for f in futures])
        log = s.log()
        draining = next((i for i, r in enumerate(log) if r.get("event") == "draining"), len(log))
        after = sum(1 for r in log[draining:] if r.get("path") == "/v1/predict")
        stopped = next((r for r in log if r.get("event") == "stopped"), {})
        lost_total += len(t.lost)
        sent_total += t.sent
        wrong = [p for p in t.bad if not p.startswith(("400", "415", "422"))]
        print(
            f"SIGTERM {trial}: {t.sent} requests sent, {sum(t.answered.values())} answered ({after} after the signal), "
            f"never answered {len(t.lost)}, unexpected answers {len(wrong)}, connections refused after the exit {t.refused}; "
            f"exit {code} after {took:.2f} s; server read {stopped.get('accepted')} and answered {stopped.get('answered')}"
        )
        for problem in t.lost[:5]:
            print(f"    e.g. {problem}")
    print(f"over {trials} SIGTERMs under load: {sent_total} requests sent, sent and never answered {lost_total} (target 0)")
    return {"sent": sent_total, "lost": lost_total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady phase (default 60)")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive clients (default 32)")
    parser.add_argument("--sigterms", type=int, default=5, help="SIGTERM trials under load (default 5)")
    parser.add_argument("--load-seconds", type=float, default=3.0, help="load before each SIGTERM (default 3)")
    parser.add_argument("--drain-seconds", type=float, default=2.0, help="the server's drain in the trials (default 2)")
    parser.add_argument("--model", type=Path, default=None, help="an exported model folder (default: a tiny one, made here)")
    args = parser.parse_args(argv)
    load_before = Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]
    with tempfile.TemporaryDirectory(prefix="ml-ci-soak-") as tmp_name:
        tmp = Path(tmp_name)
        model = args.model
        if model is None:
            print(f"exporting a tiny model in {tmp} ...", flush=True)
            exported_repo(tmp / "repo")
            model = tmp / "repo/.ml-ci/artifacts/export"
        first = steady(model, tmp, args.seconds, args.concurrency)
        second = sigterms(model, tmp, args.sigterms, args.concurrency, args.load_seconds, args.drain_seconds)
    load_after = Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(load_before)} before, {' '.join(load_after)} after")
    print(
        json.dumps(
            {
                "benchmark": "soak",
                "ratios": {
                    "soak: errors among well-formed requests": {
                        "value": first["errors"],
                        "unit": "requests",
                        "target": "<= 0",
                        "ours": f"{first['errors']} of {first['well_formed']:.0f}",
                    },
                    "soak: malformed requests not answered with their own 4xx": {
                        "value": first["malformed_wrong"],
                        "unit": "requests",
                        "target": "<= 0",
                        "ours": f"{first['malformed_wrong']} of {first['malformed']:.0f}",
                    },
                    f"soak: sent and never answered over {args.sigterms} SIGTERMs": {
                        "value": second["lost"],
                        "unit": "requests",
                        "target": "<= 0",
                        "ours": f"{second['lost']} of {second['sent']:.0f}",
                    },
                },
                "conditions": {
                    "model": "tiny random BERT (2 layers), ONNX",
                    "seconds": args.seconds,
                    "concurrency": args.concurrency,
                    "malformed_clients": "1 in 16",
                    "sigterms": args.sigterms,
                    "drain_seconds": args.drain_seconds,
                    "load_average_before": " ".join(load_before),
                    "load_average_after": " ".join(load_after),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
