"""Run every benchmark of ml-ci, each against its named baseline, and print one table of ratios.

Each benchmarks/<name>.py runs as its own process with the arguments below (fewer runs and smaller
inputs with --quick), its output streamed as it comes. A benchmark reports through result lines:
every stdout line that is a JSON object with a "benchmark" key (the contract is in
benchmarks/README.md). The table lists each measure with ours, the baseline, the ratio and its
target; the conditions (this machine's cores, memory and CPU model, the load average, and each
benchmark's model, data and runs) are printed with it. Nothing is asserted: benchmarks are not tests.

    .venv/bin/python benchmarks/run_all.py [--data ../shared/datasets/sst2] [--quick] [--only NAME]...
        [--timeout SECONDS] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass(frozen=True)
class Spec:
    """How to run one benchmark: extra arguments always, with --quick (None: too long, skipped), with --data."""

    full: tuple[str, ...] = ()
    quick: tuple[str, ...] | None = ()
    data_quick: tuple[str, ...] = ()  # added to `quick` when --data is given


# A benchmark that is not listed here runs with its own defaults (and --data when it takes one).
SPECS: dict[str, Spec] = {
    "validate": Spec(quick=("--runs", "5")),
    "generate": Spec(quick=("--runs", "5")),
    "evaluate": Spec(quick=("--n", "1000", "--runs", "1")),
    "train": Spec(quick=("--runs", "1", "--rows", "64"), data_quick=("--sample", "1000")),
    # The example's whole pipeline, twice (the second a cache hit); --quick without tuning and deploying.
    "run": Spec(quick=("--no-tune", "--no-deploy")),
    # grid vs TPE trains 20-30 small models; with --data, 10 TPE trials on 4,000 sentences.
    "tune": Spec(quick=None),
    "serve": Spec(quick=("--seconds", "3", "--runs", "1")),
    "soak": Spec(quick=("--seconds", "10", "--sigterms", "2")),
    # CoNLL-2003 (../shared/datasets/conll2003, their --conll; not --data, which is SST-2): in full, one training of
    # each side on all 14,041 train sentences; --quick on the first 500 (a try, not a figure of quality).
    "ner_train": Spec(quick=("--train-sentences", "500", "--validation-sentences", "100", "--test-sentences", "500")),
    "ner_serve": Spec(quick=("--seconds", "3", "--runs", "1")),
    # text-generation: the assistant example's records (their --records; not --data, which is SST-2) and a tiny random
    # Llama; --quick trains one epoch a side and evaluates 50 prompts once.
    "llm_train": Spec(quick=("--epochs", "1")),
    "llm_evaluate": Spec(quick=("--runs", "1", "--n", "50")),
    # The ml-ci server against transformers generate behind FastAPI (its prompts: SST-2 sentences, --data); the images
    # (--image: builds the ml-ci and a torch image, minutes) only when asked for by hand.
    "llm_serve": Spec(quick=("--runs", "1", "--requests", "8", "--ttft-requests", "2")),
    # The example's PR workflow under act, today's setup against the locked one, cold and warm (with --repro a second
    # cold run): about 40 minutes and several GB of installs; skipped by --quick.
    "pr_path": Spec(full=("--repro",), quick=None),
    # Builds an image of the cpu profile (several minutes, a Docker engine and the registry of .ci/services.sh).
    "runner_image": Spec(quick=("--runs", "1")),
    "installer": Spec(quick=("--runs", "1")),
}


@dataclass
class Outcome:
    name: str
    argv: list[str]
    code: int | None = None  # None: skipped
    seconds: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


# ---------------------------------------------------------------------------- pure parts


def discover(folder: Path) -> list[str]:
    """benchmarks/*.py but this runner and private helpers, in a stable order."""
    return sorted(p.stem for p in folder.glob("*.py") if p.stem != Path(__file__).stem and not p.stem.startswith("_"))


def takes_data(source: str) -> bool:
    """Whether a benchmark's argument parser has --data (read from its source: no process, no import)."""
    return re.search(r"""add_argument\(\s*["']--data["']""", source) is not None


def arguments(name: str, *, quick: bool, data: Path | None, accepts_data: bool) -> list[str] | None:
    """The benchmark's command-line arguments, or None when --quick skips it."""
    spec = SPECS.get(name, Spec())
    if quick and spec.quick is None:
        return None
    args = list(spec.quick if quick and spec.quick is not None else spec.full)
    if data is not None and accepts_data:
        args += ["--data", str(data)]
        if quick:
            args += spec.data_quick
    return args


def result_line(line: str) -> dict[str, Any] | None:
    """A result line: a JSON object with a "benchmark" key; any other line is the benchmark's own output."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "benchmark" in value else None


def verdict(value: float, target: str | None) -> str:
    """'met' or 'NOT met' for targets written `<= 1.0`, `< 0.3`, `>= 3` or `> 0`; '' without a target."""
    if not target:
        return ""
    m = re.fullmatch(r"\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", target)
    if m is None:
        return "?"
    op, bound = m.group(1), float(m.group(2))
    ok = {"<=": value <= bound, ">=": value >= bound, "<": value < bound, ">": value > bound}[op]
    return "met" if ok else "NOT met"


def rows(outcomes: list[Outcome]) -> list[list[str]]:
    """One row per measure: benchmark, measure, ours, baseline, value, target, verdict."""
    out: list[list[str]] = []
    for o in outcomes:
        if o.code is None:
            out.append([o.name, o.note, "", "", "", "", "skipped"])
            continue
        measures = [(k, v) for r in o.results for k, v in (r.get("ratios") or {}).items()]
        if not measures:
            out.append([o.name, o.note or f"no result line (exit {o.code})", "", "", "", "", "FAILED"])
            continue
        for key, entry in measures:
            e = entry if isinstance(entry, dict) else {"value": entry}
            value = float(e.get("value", float("nan")))
            unit = str(e.get("unit", "x"))
            shown = f"{value:.2f}x" if unit == "x" else f"{value:.3f} {unit}".rstrip()
            out.append(
                [
                    o.name,
                    key,
                    str(e.get("ours", "")),
                    str(e.get("baseline", "")),
                    shown,
                    str(e.get("target", "")),
                    verdict(value, e.get("target")),
                ]
            )
        if o.code != 0:
            out[-1][-1] += f" ({o.note or f'exit {o.code}'})"
    return out


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def conditions_of(outcome: Outcome) -> str:
    """Each result line's conditions apart: two parts of one benchmark may differ (batch size, data)."""
    parts = [", ".join(f"{k} {v}" for k, v in (r.get("conditions") or {}).items()) for r in outcome.results]
    return "; ".join(p for p in parts if p)


# ---------------------------------------------------------------------------- the machine and the runs


def machine() -> dict[str, str]:
    """What the numbers depend on: cores, memory, CPU model, Python and the main libraries' versions."""
    cpu = platform.processor() or platform.machine()
    memory = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass  # not Linux: keep what platform says
    versions = []
    for dist in ("torch", "transformers", "onnxruntime", "optuna"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return {
        "cores": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "libraries": ", ".join(versions),
    }


def run(name: str, argv: list[str], timeout: float | None) -> Outcome:
    """Run one benchmark, echoing its output, and collect its result lines."""
    outcome = Outcome(name, argv)
    command = [sys.executable, str(HERE / f"{name}.py"), *argv]
    print(f"\n==> {name}: {' '.join(command[1:])}", flush=True)
    env = {**os.environ, **OFFLINE, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    # Its own process group, so that stopping it also stops the servers and workers it started.
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True
    ) as process:
        assert process.stdout is not None
        # A timer, not a check between lines: a benchmark may print nothing for minutes.
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.killpg(process.pid, signal.SIGKILL)

        watchdog = threading.Timer(timeout, kill) if timeout is not None else None
        if watchdog is not None:
            watchdog.start()
        try:
            for line in process.stdout:
                print(f"   {line}", end="", flush=True)
                if (result := result_line(line)) is not None:
                    outcome.results.append(result)
            outcome.code = process.wait()
        except KeyboardInterrupt:
            kill()  # Ctrl-C reaches only this process group: take the benchmark down with us
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
        if killed.is_set():
            outcome.note = f"stopped after {timeout:.0f} s (--timeout)"
    outcome.seconds = time.perf_counter() - started
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="SST-2 folder, passed to the benchmarks that take --data")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller inputs; skips the long ones (tune)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this benchmark (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their arguments, run nothing")
    parser.add_argument("--timeout", type=float, default=None, help="stop a benchmark after this many seconds")
    parser.add_argument("--json", type=Path, default=None, help="also write every result line and the conditions here")
    args = parser.parse_args(argv)
    data = args.data.resolve() if args.data else None
    if data is not None and not data.is_dir():
        parser.error(f"--data {args.data}: not a folder")
    names = discover(HERE)
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (there are: {', '.join(names)})")
    plan = {
        n: arguments(n, quick=args.quick, data=data, accepts_data=takes_data((HERE / f"{n}.py").read_text(encoding="utf-8")))
        for n in names
        if not args.only or n in args.only
    }
    if args.list:
        for n, a in plan.items():
            print(f"{n:<10} " + ("skipped with --quick" if a is None else " ".join(a) or "(defaults)"))
        return 0

    host = machine()
    load_before = os.getloadavg()[0]
    started = datetime.now(timezone.utc)
    outcomes = []
    for n, a in plan.items():
        if a is None:
            outcomes.append(Outcome(n, [], None, note="long: run without --quick"))
            continue
        outcomes.append(run(n, a, args.timeout))
    load_after = os.getloadavg()[0]

    print(f"\n## ml-ci benchmarks, {started:%Y-%m-%d %H:%M} UTC{' (--quick)' if args.quick else ''}\n")
    print(f"machine: {host['cores']} cores, {host['memory']}, {host['cpu']}; Python {host['python']}; {host['libraries']}")
    print(
        f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after; "
        f"data: {data if data else 'generated (no --data)'}\n"
    )
    print(markdown_table(["benchmark", "measure", "ours", "baseline", "value", "target", "verdict"], rows(outcomes)))
    print("\nconditions:")
    for o in outcomes:
        if o.code is not None:
            print(f"- {o.name} ({o.seconds:.0f} s, {' '.join(o.argv) or 'defaults'}): {conditions_of(o) or 'none reported'}")
    if args.json is not None:
        record = {
            "started": started.isoformat(),
            "quick": args.quick,
            "data": str(data) if data else None,
            "machine": host,
            "load_average": [load_before, load_after],
            "benchmarks": [
                {"name": o.name, "argv": o.argv, "exit": o.code, "seconds": o.seconds, "note": o.note, "results": o.results}
                for o in outcomes
            ],
        }
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        tmp.replace(args.json)  # never a half-written file
    failed = [o.name for o in outcomes if o.code not in (None, 0) or (o.code is not None and not o.results)]
    if failed:
        print(f"\nfailed or without a result line: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
