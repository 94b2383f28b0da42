"""The default home of ml-ci's composite actions in a model repository: copies that ml-ci generate writes.

For every action its workflows use, `ml-ci generate` writes .github/actions/ml-ci/<name>/action.yml from
the actions/ that ship inside the installed ml-ci (ml_ci/_data/actions in a wheel, the top-level
actions/ of a checkout). Referenced as ./.github/actions/ml-ci/<name>, they are pinned by the model
repository's own commits and reviewed in its pull requests, with no release of ml-ci to pin to; the
next `ml-ci generate` after an upgrade of ml-ci updates them, and the header's hash guards them
against hand edits like the workflows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ml_ci.errors import OperationalError
from ml_ci.generate import header
from ml_ci.generate.model import Step, Workflow
from ml_ci.generate.options import VENDOR_DIR, Options
from ml_ci.generate.yamlout import Commented
from ml_ci.lock import installer
from ml_ci.resources import resource

# Relative to the model repository, as the generated files are keyed.
VENDOR_PATH = VENDOR_DIR.removeprefix("./")


def _local_steps(workflows: Iterable[Workflow], options: Options) -> Iterator[tuple[str, Step]]:
    """(action name, step) of each step that uses one of ml-ci's actions through options' local folder."""
    prefix = options.local_path("")
    for workflow in workflows:
        for job in workflow.jobs:
            for step in job.steps:
                uses = step.uses.value if isinstance(step.uses, Commented) else step.uses
                if isinstance(uses, str) and uses.startswith(prefix):
                    yield uses.removeprefix(prefix), step


def used_actions(workflows: Iterable[Workflow], options: Options) -> list[str]:
    """The names of ml-ci's actions that the workflows reference through options' local folder."""
    return sorted({name for name, _ in _local_steps(workflows, options)})


def shipped_action(name: str) -> str:
    """The body (below its generated header) of an action.yml shipped with this ml-ci."""
    rel = f"actions/{name}/action.yml"
    try:
        text = resource(rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(f"{rel} of ml-ci cannot be read ({e}); reinstall ml-ci") from None
    body = header.body(text)
    if body is None:
        raise OperationalError(f"{rel} of ml-ci was changed after it was generated; reinstall ml-ci")
    return body


def used_profiles(workflows: Iterable[Workflow], options: Options) -> list[str]:
    """The install profiles (ml_ci.lock.profiles) whose shipped locks the workflows' setup steps read: those that
    name no lock-dir of the repository's own."""
    return sorted(
        {
            str(step.with_["profile"])
            for name, step in _local_steps(workflows, options)
            if name == "setup" and not step.with_.get("lock-dir")
        }
    )


def _shipped_text(rel: str) -> str:
    try:
        return resource(rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OperationalError(f"{rel} of ml-ci cannot be read ({e}); reinstall ml-ci") from None


def shipped_lock(profile: str) -> str:
    """A lock shipped beside ml-ci's setup action, as it is: `ml-ci lock` wrote it, with its own header."""
    return _shipped_text(f"actions/setup/locks/{profile}.txt")


def shipped_installer() -> str:
    """actions/setup/uv.txt as shipped: the installer the setup action runs, pinned by hash (ml_ci.lock.installer)."""
    return _shipped_text(f"actions/setup/{installer.FILE}")


def vendored_files(names: Iterable[str], *, regenerate: str, locks: Iterable[str] = ()) -> dict[str, str]:
    """Path in the model repository -> text of each named action, under the model repository's header, and of the
    locks (profiles) its setup action installs from and of the installer's, beside it as in ml-ci."""
    names = list(names)
    out = {
        f"{VENDOR_PATH}/{name}/action.yml": header.with_header(
            shipped_action(name), source=f"actions/{name} of ml-ci", regenerate=regenerate
        )
        for name in names
    }
    if "setup" in names:
        out[f"{VENDOR_PATH}/setup/{installer.FILE}"] = header.with_header(
            shipped_installer(), source=f"actions/setup/{installer.FILE} of ml-ci", regenerate=regenerate
        )
    # Under the same header as the actions, so that the next generate after an upgrade replaces a lock it wrote
    # and refuses one edited by hand (the header is comments, which pip reads past).
    out.update(
        {
            f"{VENDOR_PATH}/setup/locks/{profile}.txt": header.with_header(
                shipped_lock(profile), source=f"actions/setup/locks/{profile}.txt of ml-ci", regenerate=regenerate
            )
            for profile in locks
        }
    )
    return out
