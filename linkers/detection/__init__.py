"""Mention detection: which spans of a text are worth linking (NER, the KB-name gazetteer, learned keyphraseness)."""
