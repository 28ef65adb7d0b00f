"""tandemd, the per-node engine."""
