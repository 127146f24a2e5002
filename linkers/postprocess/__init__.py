"""Post-processing of ranked mentions: pronoun coreference."""
