"""How long `ml-ci validate` takes as a whole process, against check-jsonschema on the same file.

This is what a pre-commit hook costs on every commit. The two commands run interleaved (so that a
busy machine slows both alike), several times each; the medians and their ratio are printed.
Targets: a ratio <= 1.0 and under 0.3 s. check-jsonschema only checks the schema; ml-ci also
checks positions, hygiene and the semantic rules, and builds the typed Config.

    .venv/bin/python benchmarks/validate.py [--runs 15] [--file examples/sentiment/ml.yaml]

`--validators` answers another question (issue 14.2): would a well-kept JSON Schema library cost a
pre-commit hook as little as ml_ci.config.validator, the hand-written subset? It times, in a fresh
interpreter each, importing the validator and checking the file's data against the schema (the YAML is
read before the clock starts). jsonschema-rs and fastjsonschema are not dependencies of ml-ci; put them
on the path to include them:

    pip install --target /tmp/jsr jsonschema-rs fastjsonschema
    PYTHONPATH=/tmp/jsr .venv/bin/python benchmarks/validate.py --validators --runs 11

Measured 2026-12-04 with the command above (2 cores shared with other work, load average 2.80;
jsonschema-rs 0.61.2, fastjsonschema 2.22.3), medians of 11: the subset 2.4 ms, jsonschema-rs
16.8 ms (its import and building the validator), fastjsonschema 124.8 ms (it generates and compiles
Python code for the schema). The subset stays: it is the fastest at start-up, "integer" keeps
meaning an int (both libraries take 16.0), and its errors carry the keyword, value and path that
config/schema_errors.py turns into today's messages.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run. CPU time varies less than wall time on a shared machine."""
    start, cpu = time.perf_counter(), _cpu()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout.decode()}{result.stderr.decode()}")
    return elapsed, _cpu() - cpu


# Each prints the seconds from before the validator's import to after its first verdict on the file's data.
_READ = (
    "import json, time\n"
    "from ml_ci.config.yamlfile import load\n"
    "schema = json.load(open('schemas/ml.schema.json', encoding='utf-8'))\n"
    "data = load(open({file!r}, 'rb').read()).data\n"
    "start = time.perf_counter()\n"
)
VALIDATORS = {
    "ml_ci.config.validator (the subset)": (
        "ml_ci",
        "from ml_ci.config.validator import iter_errors\nerrors = list(iter_errors(data, schema))\n",
    ),
    "jsonschema-rs": (
        "jsonschema_rs",
        "import jsonschema_rs\nerrors = list(jsonschema_rs.validator_for(schema).iter_errors(data))\n",
    ),
    "fastjsonschema": ("fastjsonschema", "import fastjsonschema\nfastjsonschema.compile(schema)(data)\n"),
}


def compare_validators(file: str, runs: int) -> int:
    """Start-up cost of each validator that can be imported here, interleaved, in fresh interpreters."""
    import importlib.util

    present = {name: code for name, (module, code) in VALIDATORS.items() if importlib.util.find_spec(module) is not None}
    times: dict[str, list[float]] = {name: [] for name in present}
    for _ in range(runs):
        for name, code in present.items():
            program = _READ.format(file=file) + code + "print(time.perf_counter() - start)\n"
            result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True)
            times[name].append(float(result.stdout))
    print(f"{file}, import + first check, {runs} interleaved runs each (load average {os.getloadavg()[0]:.2f})")
    for name, values in times.items():
        print(f"  {name:<38} median {statistics.median(values) * 1000:7.1f} ms  min {min(values) * 1000:7.1f} ms")
    for name in VALIDATORS.keys() - present.keys():
        print(f"  {name:<38} not installed (see the docstring)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--file", default="examples/sentiment/ml.yaml", help="the ml.yaml to validate")
    parser.add_argument("--validators", action="store_true", help="compare JSON Schema validators' start-up instead")
    args = parser.parse_args(argv)
    if args.validators:
        return compare_validators(args.file, args.runs)
    commands = {
        "ml-ci validate": [str(BIN / "ml-ci"), "validate", args.file],
        "check-jsonschema (baseline)": [str(BIN / "check-jsonschema"), "--schemafile", "schemas/ml.schema.json", args.file],
    }
    for command in commands.values():  # warm the file cache and bytecode, and fail early
        _time(command)
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():
            w, c = _time(command)
            wall[name].append(w)
            cpu[name].append(c)
    median = {name: statistics.median(values) for name, values in wall.items()}
    print(f"{args.file}, {args.runs} interleaved runs each (load average {os.getloadavg()[0]:.2f})")
    for name, values in wall.items():
        print(
            f"  {name:<28} wall median {median[name] * 1000:6.1f} ms  min {min(values) * 1000:6.1f} ms"
            f"  max {max(values) * 1000:6.1f} ms   CPU median {statistics.median(cpu[name]) * 1000:6.1f} ms"
        )
    ours, baseline = median["ml-ci validate"], median["check-jsonschema (baseline)"]
    print(
        f"  ratio ml-ci / check-jsonschema (wall medians): {ours / baseline:.2f} (target <= 1.0); "
        f"ml-ci median {ours:.3f} s (target < 0.3 s)"
    )
    # The last line, for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    print(
        json.dumps(
            {
                "benchmark": "validate",
                "ratios": {
                    "ml-ci validate / check-jsonschema (wall)": {
                        "value": ours / baseline,
                        "target": "<= 1.0",
                        "ours": f"{ours:.3f} s",
                        "baseline": f"{baseline:.3f} s",
                    },
                    "ml-ci validate wall median": {"value": ours, "unit": "s", "target": "< 0.3"},
                },
                "conditions": {"file": args.file, "runs": args.runs},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
