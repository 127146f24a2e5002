"""Feature extraction: what a ranker reads about a (mention, candidate) pair."""
