"""What `ml-ci generate` can vary besides ml.yaml: where the composite actions come from."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ml_ci import __version__
from ml_ci.generate.yamlout import Commented

ACTIONS_REPO = "ml-ci/ml-ci"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_LOCAL = re.compile(r"^\./[A-Za-z0-9._/-]+$")


@dataclass(frozen=True, kw_only=True)
class Options:
    # A tag or commit SHA of ml-ci/ml-ci, or ./folder: a copy of actions/ inside the model repository.
    actions_ref: str = f"v{__version__}"
    # Install ml-ci from this path (setup's `source`) instead of the package index; for tests.
    install_source: str = ""

    def __post_init__(self) -> None:
        if ".." in self.actions_ref.split("/") or not (_LOCAL.match(self.actions_ref) or _REF.match(self.actions_ref)):
            raise ValueError(f"--actions-ref {self.actions_ref!r}: give a tag, a commit SHA, or ./folder inside the repository")

    @property
    def local(self) -> bool:
        return self.actions_ref.startswith("./")

    def uses(self, action: str) -> Commented | str:
        """The `uses:` of one of ml-ci's composite actions."""
        if self.local:
            # zizmor suggests the `$/` self-repository syntax, which act, actionlint and the
            # workflow schema do not read yet; `./` is the documented form.
            return Commented(f"{self.actions_ref.rstrip('/')}/{action}", "zizmor: ignore[self-repository]")
        ref = f"{ACTIONS_REPO}/actions/{action}@{self.actions_ref}"
        return Commented(ref, f"v{__version__}") if _SHA.match(self.actions_ref) else ref

    @classmethod
    def from_args(cls, args: list[str]) -> Options:
        """Options from a recorded regeneration command; unknown arguments are ignored."""
        flags = {"--actions-ref": "actions_ref", "--install-from": "install_source"}
        found = {flags[a]: b for a, b in itertools.pairwise(args) if a in flags}
        return cls(**found)

    def cli_args(self) -> list[str]:
        """The options again, for the regeneration command in the header."""
        args = []
        if self.actions_ref != Options().actions_ref:
            args += ["--actions-ref", self.actions_ref]
        if self.install_source:
            args += ["--install-from", self.install_source]
        return args
