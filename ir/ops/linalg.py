"""Graph-IR ops: linalg family (not declared yet)."""
