"""Metrics and prediction."""
