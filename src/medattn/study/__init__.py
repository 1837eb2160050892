"""Experiment grids, statistics and reports."""
