"""`ml-ci generate --check` on the example, as a whole process, against the baseline
`check-jsonschema` validating the same ml.yaml against the same schema: medians and ratio.

Target: generate --check under 0.3 s wall. Not a test: run it by hand or in a benchmark job.

    .venv/bin/python benchmarks/generate.py [--runs 15] [--example examples/sentiment]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_S = 0.3


def wall(cases: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Wall times of each command, the cases interleaved so that a busy machine slows them alike."""
    for args in cases.values():
        subprocess.run(args, check=True, capture_output=True)  # warm the page cache once
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, args in cases.items():
            start = time.perf_counter()
            result = subprocess.run(args, capture_output=True, check=False)
            times[name].append(time.perf_counter() - start)
            if result.returncode != 0:
                output = result.stdout.decode() + result.stderr.decode()
                raise SystemExit(f"{' '.join(args)} exited {result.returncode}:\n{output}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "sentiment")
    opts = parser.parse_args()
    config = opts.example / "ml.yaml"
    cases = {
        "ml-ci generate --check": [str(BIN / "ml-ci"), "generate", "--check", "-c", str(config)],
        "check-jsonschema (baseline)": [
            str(BIN / "check-jsonschema"),
            "--schemafile",
            str(ROOT / "schemas" / "ml.schema.json"),
            str(config),
        ],
    }
    medians = {}
    for name, times in wall(cases, opts.runs).items():
        medians[name] = statistics.median(times)
        print(f"{name:<30} median {medians[name] * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms   ({opts.runs} runs)")
    ours, base = medians["ml-ci generate --check"], medians["check-jsonschema (baseline)"]
    print(f"ratio generate/check-jsonschema: {ours / base:.2f}x")
    print(f"target {TARGET_S * 1000:.0f} ms: {'met' if ours < TARGET_S else 'MISSED'}")
    # The last line, for benchmarks/run_all.py (its contract is in benchmarks/README.md).
    print(
        json.dumps(
            {
                "benchmark": "generate",
                "ratios": {
                    "generate --check / check-jsonschema (wall)": {
                        "value": ours / base,
                        "ours": f"{ours:.3f} s",
                        "baseline": f"{base:.3f} s",
                    },
                    "generate --check wall median": {"value": ours, "unit": "s", "target": f"< {TARGET_S}"},
                },
                "conditions": {"example": str(opts.example), "runs": opts.runs},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
