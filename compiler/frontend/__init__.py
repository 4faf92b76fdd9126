"""Frontends: turn models from other formats into moecc's graph IR (ONNX for now)."""
