"""Fitting the rankers: feature weights, the learned model, the fusion scorer."""
