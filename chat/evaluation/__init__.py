"""Offline evaluation: ReDial replay through the live state tracking and ranking, baselines, simulation."""
