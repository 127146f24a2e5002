"""Stores and data model of kg: the graph (Bolt/Cypher), the vectors (Qdrant), configuration, migrations.

Nothing here imports `indexers` or `linkers`: data flows `indexers -> kgstore <- linkers`.
"""

from kg.kgstore.config import Config, load_config
from kg.kgstore.encoders import torchvision_compat as _torchvision_compat  # noqa: F401 - guard; see that module
from kg.kgstore.errors import KgError

__all__ = ["Config", "KgError", "load_config"]
