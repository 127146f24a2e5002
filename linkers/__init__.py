"""Entity linking: corpus readers, mention detection, candidate retrieval, rerankers, NIL decisions,
write-back and evaluation.

The pipeline is `documents -> mentions (given or detected) -> candidates -> reranker -> NIL decision ->
write-back` (the write-back itself is kgstore's). This package holds one module per stage (and one per
reranking method), so a new method is a new file. The modules that need no database are:

- `linkers.records`: the `Document`/`Mention` records every source becomes; `linkers.corpus`: the corpus JSONL
  and plain-text readers; `linkers.evaluation.benchmarks`: the MEL benchmark readers (WikiMEL, WikiDiverse, the I2CR
  WikiDiverse fixture);
- `linkers.detection.detect`: mention detection when a corpus gives no spans (a gazetteer over KB aliases);
- `linkers.evaluation.metrics`: Hits@k, MRR, candidate recall, NIL scores and their rendering for `kg eval`.
"""
