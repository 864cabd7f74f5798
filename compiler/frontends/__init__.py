"""Frontends: turn a model file (ONNX) or program (torch.export) into the graph IR."""
