"""Candidate generation: the entities a mention may name (names, variants, initials, namesakes, dense text and image)."""
