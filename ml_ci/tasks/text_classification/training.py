"""text-classification's training half (`ml_ci.tasks.protocols.training.TrainingHalf`)."""
