"""ml-ci's published locks (actions/setup/locks) agree with each other: a package in two of them has the same
version and the same hashes, so one environment can hold several profiles (this project's own test environment
installs the cpu and build locks together: .ci/install.sh) and a package means the same file in every job."""

from __future__ import annotations

import re
from itertools import combinations

from tests.conftest import ROOT

LOCKS = ROOT / "actions" / "setup" / "locks"


def pins(profile: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) of a hash-pinned requirements file."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    text = (LOCKS / f"{profile}.txt").read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            out[m.group(1).lower()] = (m.group(2), frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)))
    return out


def test_every_pin_carries_hashes() -> None:
    for lock in LOCKS.glob("*.txt"):
        for name, (_, hashes) in pins(lock.stem).items():
            assert hashes, f"{lock.name}: {name} has no hash"


def test_a_package_is_the_same_in_every_cpu_side_lock() -> None:
    """cuda is left out: its torch is another build, and what follows torch may differ with it."""
    profiles = ["light", "data", "deploy", "build", "cpu"]
    for a, b in combinations(profiles, 2):
        pa, pb = pins(a), pins(b)
        differ = {name: (pa[name], pb[name]) for name in pa.keys() & pb.keys() if pa[name] != pb[name]}
        assert not differ, f"{a}.txt and {b}.txt pin differently: {sorted(differ)}"
