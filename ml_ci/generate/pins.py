"""Every third-party action the generated files use, pinned to a full commit SHA.

A tag can be moved to other code; a commit cannot. The version stays in a comment next to the
SHA so that a reader (and Dependabot) sees what it is. Update the pair together.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_ci.generate.yamlout import Commented


@dataclass(frozen=True)
class Pin:
    repo: str
    sha: str
    version: str

    def uses(self) -> Commented:
        return Commented(f"{self.repo}@{self.sha}", self.version)


CHECKOUT = Pin("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
SETUP_PYTHON = Pin("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0")
CACHE = Pin("actions/cache", "5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3")
# The restore-only and save-only halves of actions/cache, from the same commit.
CACHE_RESTORE = Pin("actions/cache/restore", CACHE.sha, CACHE.version)
CACHE_SAVE = Pin("actions/cache/save", CACHE.sha, CACHE.version)
UPLOAD_ARTIFACT = Pin("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2")
DOWNLOAD_ARTIFACT = Pin("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0")

# v4 is a wrapper of actions/attest (v4.1.0 at 59d89421af93a897026c735860bf21b6eb4f7b26), the inputs of v3 unchanged.
ATTEST_BUILD_PROVENANCE = Pin("actions/attest-build-provenance", "a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0")

PINS: tuple[Pin, ...] = (
    CHECKOUT,
    SETUP_PYTHON,
    CACHE,
    CACHE_RESTORE,
    CACHE_SAVE,
    UPLOAD_ARTIFACT,
    DOWNLOAD_ARTIFACT,
    ATTEST_BUILD_PROVENANCE,
)
