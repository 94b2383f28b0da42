"""`ml-ci export`: the trained model to ONNX, checked against PyTorch, with what serving needs."""
