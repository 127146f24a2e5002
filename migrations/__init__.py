"""Ordered Cypher migrations (NNNN_name.cypher), applied once each by `kgstore.migrate`."""
