"""A lock's header: rendered and parsed back, and the reasons `ml-ci lock --check` gives for a lock that does not fit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ml_ci.lock import header
from ml_ci.lock.header import Constraints, HashedFile, LockHeader, Unreadable
from ml_ci.lock.profiles import PROFILES

SHA = "ab" * 32
CPU = LockHeader(profile="cpu", version="0.1.0", python="3.11", platform="x86_64-manylinux_2_28", torch="cpu")


def fits(h: LockHeader | Unreadable, **changes: object) -> list[str]:
    wanted: dict[str, object] = {
        "profile": PROFILES["cpu"],
        "version": "0.1.0",
        "python": "3.11",
        "constraints_sha256": None,
        "requirements_sha256": None,
    }
    wanted.update(changes)
    return header.staleness(h, **wanted)  # type: ignore[arg-type]


def test_the_header_reads_as_the_issue_shows_it() -> None:
    folded = replace(CPU, constraints=Constraints(name="constraints.txt", sha256=SHA))
    assert header.render(folded) == (
        "# ml-ci lock: profile cpu, ml-ci 0.1.0, CPython 3.11, x86_64-manylinux_2_28, torch cpu\n"
        f"# constraints: constraints.txt sha256:{SHA}\n"
        "# regenerate: ml-ci lock\n"
    )
    assert header.render(CPU, regenerate="ml-ci lock --published").splitlines()[1:] == ["# regenerate: ml-ci lock --published"]


@pytest.mark.parametrize("constraints", [None, Constraints(name="pins/constraints file.txt", sha256=SHA)])
def test_a_rendered_header_parses_back_above_the_pins(constraints: Constraints | None) -> None:
    made = replace(CPU, constraints=constraints)
    text = header.render(made) + "click==8.1.7 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via -r requirements.in\n"
    assert header.parse(text) == made


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("click==8.1.7\n", "its first line is not an ml-ci lock header: 'click==8.1.7'"),
        (
            "# ml-ci lock: profile cpu, ml-ci 0.1.0, CPython 3.11, torch cpu\n",
            "its first line is not an ml-ci lock header: '# ml-ci lock: profile cpu, ml-ci 0.1.0, CPython 3.11, torch cpu'",
        ),
        (
            header.render(CPU).replace("# regenerate", "# constraints: c.txt sha256:12\n# regenerate"),
            "its constraints line is not `# constraints: <file> sha256:<hex>`: '# constraints: c.txt sha256:12'",
        ),
    ],
)
def test_an_unreadable_header_is_a_reason_not_an_exception(text: str, reason: str) -> None:
    parsed = header.parse(text)
    assert parsed == Unreadable(reason)
    assert fits(parsed) == [reason]


def test_a_lock_that_fits_has_no_reasons() -> None:
    assert fits(CPU) == []
    folded = replace(CPU, constraints=Constraints(name="c.txt", sha256=SHA))
    assert fits(folded, constraints_sha256=SHA) == []


def test_each_reason_a_lock_is_stale() -> None:
    assert fits(CPU, profile=PROFILES["cuda"]) == ["it is a lock of profile cpu (torch cpu), not of cuda (torch cuda)"]
    assert fits(CPU, version="0.2.0") == ["it holds the dependencies of ml-ci 0.1.0, not of ml-ci 0.2.0"]
    assert fits(CPU, python="3.12") == ["it was resolved for Python 3.11, not 3.12"]
    assert fits(CPU, constraints_sha256=SHA) == ["ci.constraints was added since it was made"]
    folded = replace(CPU, constraints=Constraints(name="c.txt", sha256=SHA))
    assert fits(folded) == ["ci.constraints was removed since it was made"]
    assert fits(folded, constraints_sha256="cd" * 32) == [
        f"the constraints file changed since it was made (it folded in c.txt sha256:{SHA})"
    ]
    assert len(fits(CPU, version="0.2.0", python="3.10", profile=PROFILES["light"])) == 3


def test_the_requirements_line_follows_the_constraints_line_and_parses_back() -> None:
    both = replace(
        CPU,
        constraints=Constraints(name="constraints.txt", sha256=SHA),
        requirements=HashedFile(name="deps/requirements file.txt", sha256="cd" * 32),
    )
    assert header.render(both).splitlines()[1:] == [
        f"# constraints: constraints.txt sha256:{SHA}",
        f"# requirements: deps/requirements file.txt sha256:{'cd' * 32}",
        "# regenerate: ml-ci lock",
    ]
    assert header.parse(header.render(both) + "click==8.1.7 \\\n") == both
    alone = replace(CPU, requirements=HashedFile(name="requirements.txt", sha256=SHA))
    assert header.parse(header.render(alone)) == alone
    bad = header.render(CPU).replace("# regenerate", "# requirements: r.txt sha256:12\n# regenerate")
    assert header.parse(bad) == Unreadable(
        "its requirements line is not `# requirements: <file> sha256:<hex>`: '# requirements: r.txt sha256:12'"
    )


def test_each_reason_the_requirements_make_a_lock_stale() -> None:
    added = replace(CPU, requirements=HashedFile(name="r.txt", sha256=SHA))
    assert fits(added, requirements_sha256=SHA) == []
    assert fits(CPU, requirements_sha256=SHA) == ["ci.requirements was added since it was made"]
    assert fits(added) == ["ci.requirements was removed since it was made"]
    assert fits(added, requirements_sha256="cd" * 32) == [
        f"the requirements file changed since it was made (it folded in r.txt sha256:{SHA})"
    ]
    # each file is told apart: constraints as they were, requirements changed
    both = replace(added, constraints=Constraints(name="c.txt", sha256=SHA))
    assert fits(both, constraints_sha256=SHA, requirements_sha256="cd" * 32) == [
        f"the requirements file changed since it was made (it folded in r.txt sha256:{SHA})"
    ]
