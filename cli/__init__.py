"""The `kg` command line: thin click commands over kgstore, indexers and linkers."""
