"""KB readers and encoders: they turn knowledge-base files into `kgstore.model.EntityRecord`s (and vectors).

The readers here only parse; they never touch a database, so the ingest pipeline can run them in worker
processes and the graph store can stay free of any knowledge of input formats.
"""
