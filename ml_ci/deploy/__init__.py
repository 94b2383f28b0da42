"""Deployment and promotion: manifests, GitOps commits, server-side apply with a rollout watch,
local Docker environments, the smoke test and promotion between environments.

`deployer` keeps the policy (only gated models, only images whose model the records describe, only
healthy, smoke-tested releases promoted); each kind of environment is a target in `targets` (local,
gitops, apply) that puts a digest live, rolls it back and says what runs. What they record is
ml_ci.records.release (and the image reference, ml_ci.records.imageref). Pure parts (records, manifests, alerts, tree, rollout,
promotion.refusal) import nothing heavy; the effectful parts (gitops, apply, local, registry, github)
talk to git, the Kubernetes API, Docker, registries and GitHub.
"""
