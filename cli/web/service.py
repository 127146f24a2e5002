"""`kg serve`'s service: the shared one of kg.service (the Python API's too, so the server and the API are the same
code), plus what only a server has: uploaded images, its health answer and the eval reports it shows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from pathlib import Path
from typing import Any

from kg.context import StoreContext
from kg.kgstore.errors import InputError
from kg.kgstore.files import atomic_write
from kg.kgstore.images import is_url
from kg.linkers.corpus import Document, parse_document
from kg.linkers.evaluation.eval_report import EvalReport, load_report
from kg.service import SearchResult, Service, canonical_qid

__all__ = ["KgService", "SearchResult", "canonical_qid"]


class KgService(Service):
    def __init__(self, app: StoreContext, reports: list[Path] | None = None, link: dict[str, Any] | None = None):
        super().__init__(app, link)
        self._report_paths = {p.name: p for p in reports or []}
        self._reports: dict[str, EvalReport] = {}

    def document(self, record: dict[str, Any], image_base64: str | None = None) -> Document:
        """A request's document, read by the corpus reader (the CLI's messages); an uploaded image is stored
        under KG_HOME/cache/uploads by content hash, and an `image` must be an http(s) URL (the server does not
        open its own files for a client)."""
        record = {k: v for k, v in record.items() if v is not None}
        record.setdefault("id", "api-" + uuid.uuid4().hex[:12])
        image = record.get("image")
        if image is not None and image_base64 is not None:
            raise InputError("give either image (an http(s) URL) or image_base64, not both")
        if image is not None and not (isinstance(image, str) and is_url(image)):
            raise InputError("image: must be an http(s) URL; send the image's bytes as image_base64 instead")
        if image_base64 is not None:
            record["image"] = str(self._store_upload(image_base64))
        return parse_document(record, self.config.home)

    def _store_upload(self, data: str) -> Path:
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("image_base64: not valid base64 (standard alphabet, padded)") from None
        if not raw:
            raise InputError("image_base64: empty")
        path = self.config.home / "cache" / "uploads" / hashlib.sha1(raw).hexdigest()
        if not path.exists():
            atomic_write(path, raw)
        return path

    def health(self) -> dict[str, Any]:
        """Both stores answer (a cheap read each)."""
        self.app.graph().ping()
        points = self.app.vectors().count(self.config.qdrant.collection)
        return {"status": "ok", "graph": "ok", "collection": self.config.qdrant.collection, "vectors": points,
                "linkers_loaded": len(self._linkers)}

    # -------------------------------------------------------------------------------------------- reports
    def report_names(self) -> list[str]:
        return sorted(self._report_paths)

    def report(self, name: str) -> EvalReport:
        if name not in self._report_paths:
            raise InputError(f"unknown report {name!r}: start `kg serve --report FILE` with the file "
                             f"`kg eval --report` wrote (loaded: {', '.join(self.report_names()) or 'none'})")
        if name not in self._reports:
            self._reports[name] = load_report(self._report_paths[name])
        return self._reports[name]

    def load_reports(self) -> None:
        """Read every report at start-up, so a bad file is an error before the server listens."""
        for name in self._report_paths:
            self.report(name)
