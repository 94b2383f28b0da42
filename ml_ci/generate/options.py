"""What `ml-ci generate` can vary besides ml.yaml: where the composite actions come from."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Optional

from ml_ci import __version__
from ml_ci.generate.yamlout import Commented

ACTIONS_REPO = "ml-ci/ml-ci"
# The default: ml-ci's actions copied here by `ml-ci generate` (ml_ci/generate/vendor.py), so that the
# workflows reference reviewed files of the model repository and no mutable tag of ml-ci.
VENDOR_DIR = "./.github/actions/ml-ci"
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_LOCAL = re.compile(r"^\./[A-Za-z0-9._/-]+$")


@dataclass(frozen=True, kw_only=True)
class Options:
    # ./.github/actions/ml-ci (the vendored copies), a commit SHA or tag of ml-ci/ml-ci, or ./folder:
    # a copy of actions/ inside the model repository that its owner maintains.
    actions_ref: str = VENDOR_DIR
    # Install ml-ci from this path (setup's `source`) instead of the package index; for tests.
    install_source: str = ""

    def __post_init__(self) -> None:
        if ".." in self.actions_ref.split("/") or not (_LOCAL.match(self.actions_ref) or _REF.match(self.actions_ref)):
            raise ValueError(f"--actions-ref {self.actions_ref!r}: give a commit SHA, a tag, or ./folder inside the repository")

    @property
    def local(self) -> bool:
        return self.actions_ref.startswith("./")

    @property
    def vendored(self) -> bool:
        """ml-ci generate writes the actions into the repository itself."""
        return self.actions_ref.rstrip("/") == VENDOR_DIR

    def local_path(self, action: str) -> str:
        return f"{self.actions_ref.rstrip('/')}/{action}"

    def uses(self, action: str) -> Commented | str:
        """The `uses:` of one of ml-ci's composite actions."""
        if self.local:
            # zizmor suggests the `$/` self-repository syntax, which act, actionlint and the
            # workflow schema do not read yet; `./` is the documented form.
            return Commented(self.local_path(action), "zizmor: ignore[self-repository]")
        ref = f"{ACTIONS_REPO}/actions/{action}@{self.actions_ref}"
        return Commented(ref, f"v{__version__}") if _SHA.match(self.actions_ref) else ref

    def warning(self) -> Optional[str]:
        """Why the chosen reference is unsafe, or None: a tag or branch can be moved to other code."""
        if self.local or _SHA.match(self.actions_ref):
            return None
        return (
            f"--actions-ref {self.actions_ref}: a tag or branch can be moved to other code, and zizmor flags it "
            f"(unpinned-uses); give a commit SHA, or --actions-ref {VENDOR_DIR} (the default) to copy the actions "
            f"into the repository"
        )

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
