"""Backends of moecc: ``asic`` (instruction selection, encoding, simulator) and ``llvm`` (CPU code)."""
