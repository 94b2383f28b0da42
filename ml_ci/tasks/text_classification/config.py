"""text-classification's config half (`ml_ci.tasks.protocols.config.ConfigHalf`)."""
