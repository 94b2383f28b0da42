"""Locked environments (issue 18): what each job of the generated workflows installs, pinned with hashes.

profiles: which of ml-ci's extras (and which torch build) each job imports, pure and light;
the lock files themselves are made by `ml-ci lock` (ml_ci.lock.resolve) and installed by actions/setup.
"""
