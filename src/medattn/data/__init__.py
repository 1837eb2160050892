"""Data sources, synthetic benchmark, splits and transforms."""
