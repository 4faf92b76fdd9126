"""Graph-IR ops: shape family (not declared yet)."""
