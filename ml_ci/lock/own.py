"""Whether a repository's workflows install from its own locks (ml-ci.lock/, made by `ml-ci lock`), and whether those
fit its ml.yaml. Light: `ml-ci generate` reads it.

ml-ci's shipped locks serve a repository that adds no pins and no packages on the Python they were resolved for. Its
own constraints or requirements, or another Python (whose wheels differ), need locks of its own.
"""

from __future__ import annotations

import hashlib
from typing import Optional

from ml_ci import __version__
from ml_ci.config.model import Config
from ml_ci.lock import header, profiles

SHIPPED_PYTHON = "3.11"  # the Python of actions/setup/locks (their headers say so; a test keeps the two equal)


def uses_own(config: Config) -> bool:
    ci = config.ci
    return ci.constraints is not None or ci.requirements is not None or ci.python != SHIPPED_PYTHON


def needed(config: Config) -> list[profiles.Profile]:
    """The profiles the generated workflows install: CUDA only where ci.gpu_runner runs tune and train."""
    names = ["light", "data", "deploy", "build", "cpu"] + (["cuda"] if config.ci.gpu_runner else [])
    return [profiles.PROFILES[n] for n in names]


def problems(config: Config) -> list[str]:
    """Why the repository's own locks do not fit its ml.yaml, one line per lock; empty when they fit (or are not used)."""
    if not uses_own(config):
        return []
    wanted = config.ci.ml_ci_version or __version__
    constraints = _sha256(config, config.ci.constraints)
    requirements = _sha256(config, config.ci.requirements)
    out = []
    for profile in needed(config):
        rel = f"{profiles.LOCK_DIR}/{profiles.lock_file(profile)}"
        try:
            text = (config.root / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            out.append(f"{rel} is missing")
            continue
        except (OSError, UnicodeDecodeError) as e:
            out.append(f"{rel} cannot be read ({e})")
            continue
        reasons = header.staleness(
            header.parse(text),
            profile=profile,
            version=wanted,
            python=config.ci.python,
            constraints_sha256=constraints,
            requirements_sha256=requirements if profile.takes_requirements else None,
        )
        out.extend(f"{rel}: {reason}" for reason in reasons)
    return out


def _sha256(config: Config, name: Optional[str]) -> Optional[str]:
    return hashlib.sha256((config.root / name).read_bytes()).hexdigest() if name is not None else None


def why(config: Config) -> str:
    """What makes the repository need its own locks, for messages."""
    named = [
        f"ci.{key} names {value}"
        for key, value in (("constraints", config.ci.constraints), ("requirements", config.ci.requirements))
        if value is not None
    ]
    if named:
        return " and ".join(named)
    return f"ci.python is {config.ci.python} and ml-ci's shipped locks are for {SHIPPED_PYTHON}"
