"""One error hierarchy; each kind carries its documented exit code.

Exit codes: 0 success, 1 operational failure, 2 invalid config, 3 data check failed,
4 quality gate failed, 5 deployment failed, 64 usage error (a command line that is not understood:
an unknown option or command, a missing or bad argument; sysexits' EX_USAGE), so that a script can
tell a mistyped command from an invalid ml.yaml. Anything else that escapes is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_USAGE = 64


class MlCiError(Exception):
    """A failure the user can act on: printed without a traceback."""

    exit_code = 1
    # Set when the stage already wrote its own workflow annotations (one per problem, on the
    # offending line), so the top-level handler does not add a second, unlocated one.
    annotated = False


class OperationalError(MlCiError):
    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One finding in a file, located by line and column (1-based) and dotted path."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: " if self.line else f"{self.file}: "
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{self.path + ': ' if self.path else ''}{self.message}"


class ConfigError(MlCiError):
    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DataCheckError(MlCiError):
    exit_code = 3


class GateError(MlCiError):
    exit_code = 4


class DeployError(MlCiError):
    exit_code = 5
