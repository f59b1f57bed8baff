"""Initial weights, one file per family (common: what they share)."""
