"""Graph-IR ops: elementwise family (not declared yet)."""
