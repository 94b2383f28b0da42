"""ml.yaml -> GitHub Actions: workflows and composite actions built as typed data, dumped to YAML.

Nothing here imports the heavy stage libraries: `ml-ci generate` runs in the light install.
"""
