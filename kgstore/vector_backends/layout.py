"""How kg lays out a new collection on a Qdrant server: shards, replicas, quantisation, on-disk storage, HNSW.

The `[qdrant]` settings decide it once, here, so that every transport creates the same collection. The defaults
ask for nothing (one node's defaults, no quantisation): a user on one machine gets what kg always made. Local
mode has no shards, replicas, quantisation or HNSW graph, so it ignores these settings and says so once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from kg.kgstore.config import QdrantSection
from kg.kgstore.errors import ConfigError

log = logging.getLogger(__name__)
HNSW_M = 16  # Qdrant's default graph degree: what `kg index` restores after a deferred build (m=0)
QUANTIZATIONS = ("", "int8")


@dataclass(frozen=True)
class Layout:
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    quantization: str = ""
    always_ram: bool = True
    on_disk: bool = False
    on_disk_payload: bool | None = None
    defer_hnsw: bool = False

    @classmethod
    def from_config(cls, qdrant: QdrantSection) -> Layout:
        """The layout the settings ask for; a count below 1 or an unknown quantisation is refused by name."""
        for name in ("shard_number", "replication_factor", "write_consistency_factor"):
            value = getattr(qdrant, name)
            if value is not None and value < 1:
                raise ConfigError(f"[qdrant] {name} (KG_QDRANT_{name.upper()}) is {value}; it must be 1 or more, "
                                  "or unset")
        quantization = qdrant.quantization.strip().lower()
        if quantization not in QUANTIZATIONS:
            raise ConfigError(f"[qdrant] quantization (KG_QDRANT_QUANTIZATION) is {qdrant.quantization!r}; use "
                              "\"int8\", or leave it empty for none")
        return cls(qdrant.shard_number, qdrant.replication_factor, qdrant.write_consistency_factor, quantization,
                   qdrant.always_ram, qdrant.on_disk, qdrant.on_disk_payload, qdrant.defer_hnsw)

    def server_only(self) -> list[str]:
        """The settings that differ from the defaults and that only a server honours."""
        default = Layout()
        return [name for name in ("shard_number", "replication_factor", "write_consistency_factor", "quantization",
                                  "on_disk", "on_disk_payload", "defer_hnsw")
                if getattr(self, name) != getattr(default, name)]

    def note_local(self) -> None:
        """Local mode ignores the server-only settings: say which, so that nobody believes a collection sharded."""
        ignored = self.server_only()
        if ignored:
            log.warning("Qdrant local mode ignores [qdrant] %s: shards, replicas, quantisation, on-disk storage and "
                        "HNSW need a Qdrant server (KG_QDRANT_URL)", ", ".join(ignored))

    def vector_params(self, size: int) -> models.VectorParams:
        return models.VectorParams(size=size, distance=models.Distance.COSINE, on_disk=self.on_disk or None)

    def create_options(self) -> dict[str, Any]:
        """The keyword arguments of `QdrantClient.create_collection` beyond the vectors; unset ones are left out,
        so the server's defaults apply."""
        options: dict[str, Any] = {
            "shard_number": self.shard_number, "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency_factor, "on_disk_payload": self.on_disk_payload,
        }
        if self.quantization == "int8":
            options["quantization_config"] = models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, always_ram=self.always_ram))
        if self.defer_hnsw:
            options["hnsw_config"] = models.HnswConfigDiff(m=0)
        return {k: v for k, v in options.items() if v is not None}
