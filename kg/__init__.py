"""kg as a library: `from kg import KG; with KG.open() as kg: kg.link(text)` (see kg.api), and the spaCy component
"kg_linker" (kg.spacy_component, registered through spaCy's entry points)."""

from kg.api import KG, LinkedDoc, LinkedMention
from kg.service import LinkSettings, SearchResult

__all__ = ["KG", "LinkSettings", "LinkedDoc", "LinkedMention", "SearchResult"]
