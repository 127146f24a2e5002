"""Evaluation: datasets, metrics, ELEVANT's span scorer, reports."""
