"""text-classification's data half (`ml_ci.tasks.protocols.data.DataHalf`)."""
