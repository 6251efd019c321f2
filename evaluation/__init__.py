"""Scoring reconstructions: surface metrics, benchmark folders and tables."""
