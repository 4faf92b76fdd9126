"""Graph-IR ops: indexing family (not declared yet)."""
