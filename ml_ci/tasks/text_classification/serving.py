"""text-classification's serving half (`ml_ci.tasks.protocols.serving.ServingHalf`)."""
