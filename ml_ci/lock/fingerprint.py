"""The installed environment's fingerprint: sha256 (16 hex) of its sorted `name==version` lines, ml-ci itself aside.

The setup action prints it (`python -m ml_ci.lock.fingerprint >> "$GITHUB_OUTPUT"`), so two runs that installed the
same versions say so in their logs, and a benchmark can compare jobs (benchmarks/pr_path.py). importlib.metadata
reads what is installed in a fraction of `pip freeze`'s second. Light: stdlib only.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable
from importlib import metadata


def lines(distributions: Iterable[metadata.Distribution]) -> list[str]:
    """`name==version` of each distribution, names normalized as pip compares them, sorted, ml-ci left out."""
    found = {f"{re.sub(r'[-_.]+', '-', d.metadata['Name']).lower()}=={d.version}" for d in distributions}
    return sorted(line for line in found if not line.startswith("ml-ci=="))


def fingerprint(pinned: list[str]) -> str:
    return hashlib.sha256("".join(line + "\n" for line in pinned).encode()).hexdigest()[:16]


def main() -> int:
    from ml_ci import __version__

    pinned = lines(metadata.distributions())
    value = fingerprint(pinned)
    print(f"environment: {len(pinned)} packages, fingerprint {value}", file=sys.stderr)
    print(f"fingerprint={value}")
    print(f"version={__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
