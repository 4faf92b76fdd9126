"""Graph-IR ops: reduction family (not declared yet)."""
