"""text-classification's export half (`ml_ci.tasks.protocols.export.ExportHalf`)."""
