"""The entity collection in Qdrant: one collection per KB, one point per entity, named vectors plus payload.

The indexer writes it and the searcher reads it, so its layout is defined once, here:

- dense ``text`` (sentence-transformers over label + description + key attributes) and ``image`` (CLIP), cosine;
- sparse ``names`` (hashed character 3-grams of label and aliases, see `kgstore.names`), with Qdrant's IDF
  modifier so that rare n-grams weigh more;
- sparse ``words`` (hashed words of the description and attribute values, see `kgstore.entity_words`), also with
  the IDF modifier: the rare words a mention's context shares with an entity, scored by the server;
- payload: what retrieval needs without a graph round trip (qid, label, aliases, types, popularity, ...), the
  normal forms of all names in ``names`` (keyword index: exact lookup), the ``label`` with a full-text index (a
  surname finds the full name: "Neruda" -> "Pablo Neruda"), the acronyms of multi-word names in ``initials``
  (keyword index: "NYSE" finds the New York Stock Exchange without such an alias), and one input hash per index,
  which makes indexing incremental.

Qdrant cannot add a named vector to an existing collection, so a collection created before an image model was
configured (or with another text model size) must be rebuilt: `kg index --recreate`.
"""

from __future__ import annotations

from qdrant_client import models

from kg.kgstore.errors import ConfigError
from kg.kgstore.vectors import VectorStore

TEXT, NAMES, IMAGE, WORDS = "text", "names", "image", "words"
INDEXES = (TEXT, NAMES, IMAGE, WORDS)
SPARSE = (NAMES, WORDS)
HASH_FIELDS = {TEXT: "text_hash", NAMES: "names_hash", IMAGE: "image_hash", WORDS: "words_hash"}
ENTITY_HASH = "entity_hash"  # a hash of the payload's content: the payload is rewritten when it changes
NAMES_FIELD = "names"
INITIALS_FIELD = "initials"  # acronyms of the multi-word names (kgstore.names.initials): "nyse"
LABEL_FIELD = "label"
HIT_FIELDS = ["qid", "kind", "label", "description", "aliases", "names", "types", "popularity", "image", "lived"]
PAYLOAD_INDEXES = {
    "qid": models.PayloadSchemaType.KEYWORD,
    NAMES_FIELD: models.PayloadSchemaType.KEYWORD,
    INITIALS_FIELD: models.PayloadSchemaType.KEYWORD,
    "types": models.PayloadSchemaType.KEYWORD,
    "popularity": models.PayloadSchemaType.INTEGER,
    LABEL_FIELD: models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WORD,
                                        lowercase=True),
}


def ensure_entity_collection(
    vectors: VectorStore, name: str, *, text_dim: int, image_dim: int | None, recreate: bool = False
) -> None:
    """Create the collection (dropping it first with `recreate`), or check an existing one fits the models."""
    if recreate and vectors.collection_exists(name):
        vectors.delete_collection(name)
    dense = {TEXT: text_dim, **({IMAGE: image_dim} if image_dim else {})}
    if vectors.ensure_collection(name, dense, list(SPARSE), sparse_idf=True, payload_indexes=PAYLOAD_INDEXES):
        return
    existing = dense_sizes(vectors, name)
    check_vector(name, existing, TEXT, text_dim)
    if image_dim:
        check_vector(name, existing, IMAGE, image_dim)
    vectors.ensure_payload_indexes(name, PAYLOAD_INDEXES)  # a collection made by an older kg may lack some


def has_words(vectors: VectorStore, name: str) -> bool:
    """Whether the collection has the words index (collections made before it existed lack it until rebuilt)."""
    return WORDS in vectors.sparse_names(name)


def dense_sizes(vectors: VectorStore, name: str) -> dict[str, int]:
    """Named dense vectors of a collection and their sizes."""
    sizes = vectors.dense_sizes(name)
    if sizes is None:  # an unnamed-vector collection was not made by kg
        raise ConfigError(f"collection {name!r} was not created by `kg index` (it has one unnamed vector); "
                          "set KG_COLLECTION to another name")
    return sizes


def check_vector(collection: str, existing: dict[str, int], vector: str, dim: int) -> None:
    if vector not in existing:
        raise ConfigError(
            f"collection {collection!r} has no {vector!r} vector (it was created before that model was configured); "
            f"rebuild it with `kg index --recreate`, or set KG_COLLECTION to a new collection"
        )
    if existing[vector] != dim:
        raise ConfigError(
            f"collection {collection!r} holds {vector} vectors of size {existing[vector]}, but the configured "
            f"{vector} model makes {dim}; rebuild with `kg index --recreate`, or set KG_COLLECTION to a new collection"
        )
