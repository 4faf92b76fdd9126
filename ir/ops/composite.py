"""Graph-IR ops: composite family (not declared yet)."""
