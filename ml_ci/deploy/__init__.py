"""Deployment and promotion: manifests, GitOps commits, server-side apply with a rollout watch,
local Docker environments, the smoke test and promotion between environments.

Pure parts (imageref, records, manifests, alerts, tree, rollout, smoke.compare, promote.refusal)
import nothing heavy; the effectful parts (gitops, apply, local, registry, github) talk to git,
the Kubernetes API, Docker, registries and GitHub.
"""
