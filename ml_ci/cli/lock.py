"""`ml-ci lock`: hash-pinned environments, one per install profile (issue 18).

A model repository's locks go to ml-ci.lock/ beside ml.yaml, with its ci.constraints folded in; `--published`
writes ml-ci's own (actions/setup/locks, in a checkout of ml-ci), which the setup action installs by default, and the
installer's (actions/setup/uv.txt: the uv that resolved them, pinned by hash).
`--check` tells offline, without uv, whether each lock still fits.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import click

from ml_ci import __version__
from ml_ci.cli.app import config_option, run_guarded
from ml_ci.errors import OperationalError
from ml_ci.lock import header as lock_header
from ml_ci.lock import installer, resolve
from ml_ci.lock.profiles import LOCK_DIR, PROFILES, Profile, lock_file

DEFAULT_PYTHON = "3.11"  # the published locks' (ci.python's default)
PUBLISHED = "actions/setup/locks"


@dataclass(frozen=True, kw_only=True)
class LockOptions:
    config_path: Path
    profiles: tuple[str, ...]  # empty: all of them
    published: bool
    python: Optional[str]
    platform: str
    torch_version: Optional[str]  # None: ml_ci.lock.requirements.TORCH_VERSION
    torch_index: Optional[str]  # as given: None when not (ci.torch_index decides), "none" for no index
    find_links: tuple[str, ...]
    upgrade: bool
    check: bool


@dataclass(frozen=True, kw_only=True)
class Target:
    """One lock file to write or check, and what its header must say."""

    profile: Profile
    path: Path
    header: lock_header.LockHeader
    regenerate: str
    constraints: Optional[Path]
    preference: Optional[Path]
    torch_index: Optional[str]  # where uv finds torch's +cpu wheels; None: PyPI and --find-links only
    requirements: Optional[Path] = None  # ci.requirements' file, where the profile takes it


def published_dir() -> Path:
    """actions/setup/locks of the checkout this ml-ci runs from; an installed wheel's copy is not for writing."""
    import ml_ci
    from ml_ci.resources import resource

    setup = resource("actions/setup")
    if setup.resolve().is_relative_to(Path(ml_ci.__file__).resolve().parent / "_data"):
        raise OperationalError(
            f"ml-ci lock --published writes ml-ci's own locks into a checkout of ml-ci; this ml-ci is installed "
            f"from a wheel ({setup.parent.parent}): run it from the checkout (pip install -e .)"
        )
    return setup / "locks"


def _published_lock(profile: Profile) -> Optional[Path]:
    from ml_ci.resources import resource

    try:
        return resource(f"{PUBLISHED}/{lock_file(profile)}")
    except FileNotFoundError:
        return None


def torch_index(given: Optional[str], configured: Optional[str]) -> Optional[str]:
    """--torch-index when given ("none": no index), else ml.yaml's ci.torch_index ("": none), else PyTorch's CPU
    index: the lock is resolved from where the jobs will install it."""
    if given is not None:
        return None if given == "none" else given
    if configured is not None:
        return configured or None
    return resolve.TORCH_CPU_INDEX


def chosen_profiles(names: tuple[str, ...]) -> list[Profile]:
    """The named profiles (click's Choice has checked the names), in PROFILES' order, or all of them."""
    return [p for p in PROFILES.values() if p.name in names] if names else list(PROFILES.values())


def targets(options: LockOptions) -> list[Target]:
    profiles = chosen_profiles(options.profiles)
    if options.published:
        folder = published_dir()
        python = options.python or DEFAULT_PYTHON
        return [
            Target(
                profile=p,
                path=folder / lock_file(p),
                header=lock_header.LockHeader(
                    profile=p.name, version=__version__, python=python, platform=options.platform, torch=p.torch
                ),
                regenerate="ml-ci lock --published",
                constraints=None,
                preference=folder / lock_file(p),
                torch_index=torch_index(options.torch_index, None),
            )
            for p in profiles
        ]
    from ml_ci.config import load_config

    config = load_config(options.config_path).config
    root = config.root
    # The job installs ci.ml_ci_version (default: the ml-ci that generated the workflows): its dependencies are the lock's.
    version = config.ci.ml_ci_version or __version__
    python = options.python or config.ci.python
    constraints = root / config.ci.constraints if config.ci.constraints is not None else None
    folded = (
        lock_header.HashedFile(name=str(config.ci.constraints), sha256=resolve.sha256_of(constraints))
        if constraints is not None and config.ci.constraints is not None
        else None
    )
    own = root / config.ci.requirements if config.ci.requirements is not None else None
    added = (
        lock_header.HashedFile(name=str(config.ci.requirements), sha256=resolve.sha256_of(own))
        if own is not None and config.ci.requirements is not None
        else None
    )
    out = []
    for p in profiles:
        path = root / LOCK_DIR / lock_file(p)
        published = _published_lock(p)
        out.append(
            Target(
                profile=p,
                path=path,
                header=lock_header.LockHeader(
                    profile=p.name,
                    version=version,
                    python=python,
                    platform=options.platform,
                    torch=p.torch,
                    constraints=folded,
                    requirements=added if p.takes_requirements else None,
                ),
                regenerate="ml-ci lock",
                constraints=constraints,
                preference=published if published is not None else path,
                torch_index=torch_index(options.torch_index, config.ci.torch_index),
                requirements=own if p.takes_requirements else None,
            )
        )
    return out


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def check(options: LockOptions) -> int:
    stale: list[str] = []
    installer_lock = ""
    found = targets(options)
    for t in found:
        if not t.path.is_file():
            stale.append(f"{_shown(t.path)}: missing")
            continue
        h = t.header
        reasons = lock_header.staleness(
            lock_header.parse(t.path.read_text(encoding="utf-8", errors="replace")),
            profile=t.profile,
            version=h.version,
            python=h.python,
            constraints_sha256=h.constraints.sha256 if h.constraints is not None else None,
            requirements_sha256=h.requirements.sha256 if h.requirements is not None else None,
        )
        stale += [f"{_shown(t.path)}: {reason}" for reason in reasons]
    if options.published:
        uv_lock = published_dir().parent / installer.FILE
        text = uv_lock.read_text(encoding="utf-8") if uv_lock.is_file() else None
        reason = installer.problem(text) if text is not None else "missing"
        if reason is not None:
            stale.append(f"{_shown(uv_lock)}: {reason}")
        elif text is not None:
            installer_lock = f"; {_shown(uv_lock)} pins uv {installer.pinned_version(text)}"
    if stale:
        command = found[0].regenerate
        raise OperationalError("\n".join(["locks that do not fit:", *(f"  {line}" for line in stale), f"run `{command}`"]))
    click.echo(
        f"{len(found)} lock{'s' if len(found) != 1 else ''} fit: {', '.join(_shown(t.path) for t in found)}{installer_lock}"
    )
    return 0


def lock(options: LockOptions) -> int:
    if options.check:
        return check(options)
    try:
        from ml_ci.lock import requirements
    except ImportError as e:  # packaging: pip's own copy is vendored, not importable
        raise OperationalError(f"ml-ci lock needs {e.name or 'packaging'}: pip install 'ml-ci[lock]'") from None

    found = targets(options)
    if not options.published and found and found[0].header.version != __version__:
        raise OperationalError(
            f"ci.ml_ci_version is {found[0].header.version}, but this is ml-ci {__version__}: a lock holds the "
            f"dependencies of the ml-ci that makes it; install ml-ci=={found[0].header.version} and run it again"
        )
    uv = resolve.find_uv(os.environ)
    meta = requirements.installed()
    torch_version = options.torch_version or requirements.TORCH_VERSION
    # The repository's own requirements, read once: a line a lock cannot take is refused before uv runs.
    own = {t.requirements: requirements.own(t.requirements, _shown(t.requirements)) for t in found if t.requirements}
    # Every profile's input first: metadata that cannot give one fails before any lock is rewritten.
    plans = [
        resolve.Plan(
            profile=t.profile,
            requirements=(
                *requirements.for_profile(t.profile, meta, torch_version=torch_version),
                *(own[t.requirements] if t.requirements is not None else ()),
            ),
            header=t.header,
            output=t.path,
            regenerate=t.regenerate,
            preference=None if options.upgrade else t.preference,
            constraints=t.constraints,
            torch_pin=requirements.torch_pin(t.profile, torch_version),
            torch_index=t.torch_index,
            find_links=options.find_links,
            # A job without torch takes the repository's packages without the torch they may pull in (a model's
            # package that the data check reads a tokenizer from); the lock is still refused if torch comes anyway.
            excludes=(requirements.TORCH,) if t.profile.torch == "none" and t.requirements is not None else (),
        )
        for t in found
    ]
    for plan in plans:
        resolve.resolve(plan, uv=uv)
        pins = sum(1 for line in plan.output.read_text(encoding="utf-8").splitlines() if line[:1].isalnum())
        click.echo(f"wrote {_shown(plan.output)} ({pins} pins)")
    if options.published:
        uv_lock = published_dir().parent / installer.FILE
        click.echo(f"wrote {_shown(uv_lock)} (uv {installer.write(uv_lock, uv=uv)})")
    return 0


@click.command("lock")
@config_option
@click.option(
    "--profile",
    "profiles",
    type=click.Choice(list(PROFILES)),
    multiple=True,
    help="A profile to lock or check (repeatable). Default: all of them.",
)
@click.option(
    "--published",
    is_flag=True,
    help=f"Write ml-ci's own locks ({PUBLISHED}, in a checkout of ml-ci) instead of a repository's; reads no ml.yaml.",
)
@click.option(
    "--python", default=None, metavar="X.Y", help=f"The runners' Python. Default: ci.python ({DEFAULT_PYTHON} with --published)."
)
@click.option(
    "--platform",
    default=resolve.PLATFORM,
    show_default=True,
    metavar="P",
    help="The runners' platform, as uv's --python-platform names it (ubuntu-latest runs x86_64-manylinux_2_28).",
)
@click.option("--torch-version", default=None, metavar="V", help="The torch release the torch profiles pin (default: ml-ci's).")
@click.option(
    "--torch-index",
    default=None,
    metavar="URL",
    help=f"Where the cpu profile finds torch's +cpu wheels; `none`: only PyPI and --find-links. Default: ml.yaml's "
    f"ci.torch_index (empty: none), else {resolve.TORCH_CPU_INDEX}.",
)
@click.option(
    "--find-links",
    multiple=True,
    metavar="DIR",
    help="A folder (or URL) of wheels uv may take releases from (repeatable); it is not written into the lock.",
)
@click.option("--upgrade", is_flag=True, help="Resolve afresh, without preferring the versions the current locks pin.")
@click.option(
    "--check",
    is_flag=True,
    help="Resolve nothing (offline, no uv): exit 0 when every lock exists and fits ml-ci, Python and constraints, 1 otherwise.",
)
def command(
    config_path: Path,
    profiles: tuple[str, ...],
    published: bool,
    python: Optional[str],
    platform: str,
    torch_version: Optional[str],
    torch_index: Optional[str],
    find_links: tuple[str, ...],
    upgrade: bool,
    check: bool,
) -> None:
    """Write hash-pinned locks of ml-ci's dependencies, one per install profile, with `uv pip compile`.

    In a model repository: ml-ci.lock/<profile>.txt beside ml.yaml, with ci.constraints folded in (and its sha256
    in each header) and ci.requirements added to the profiles of the jobs that load the model or the data (data,
    cpu, cuda; the data profile without torch); the lock starts from ml-ci's published one and moves only where the
    constraints or requirements force it.

    Exit 0 when written (or, with --check, when every lock fits), 1 when uv cannot resolve (its message names the
    conflict) or a lock is stale, 2 for an invalid ml.yaml or a line of ci.requirements a lock cannot take, 64 for a
    bad option.
    """
    if python is not None and re.fullmatch(r"3\.[0-9]{1,2}", python) is None:
        raise click.BadParameter(f"{python!r} is not a Python version like 3.11", param_hint="--python")
    options = LockOptions(
        config_path=config_path,
        profiles=profiles,
        published=published,
        python=python,
        platform=platform,
        torch_version=torch_version,
        torch_index=torch_index,
        find_links=find_links,
        upgrade=upgrade,
        check=check,
    )
    raise SystemExit(run_guarded(lambda: lock(options)))
