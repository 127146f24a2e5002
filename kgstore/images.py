"""Images for the CLIP encoders: local files or http(s) URLs, cached on disk, bounded in time and size, validated.

Entity images (Commons files from P18, user files) and mention images go through the same loader so both sides
of an image match are decoded alike. A bad image never raises: `load` returns a skip reason, and says whether
trying again later could help (timeouts, server errors) or not (404, not an image, too large).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from PIL import Image, UnidentifiedImageError

from kgstore.errors import InputError

USER_AGENT = "kg-indexer/0.1 (entity knowledge graph; image embedding)"  # Wikimedia refuses anonymous clients
DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 20 << 20
DEFAULT_MAX_PIXELS = 60_000_000
COMMONS_THUMB_WIDTH = 640
DRAFT_SIZE = (512, 512)  # JPEGs are decoded at reduced scale near this size: CLIP needs 224-448 px anyway
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class LoadedImage:
    """An RGB image, or why there is none (`skip`); `transient` skips may succeed on a later try."""

    source: str
    image: Image.Image | None = None
    skip: str | None = None
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.image is not None


def is_url(ref: str) -> bool:
    return ref.lower().startswith(("http://", "https://"))


def download_url(url: str) -> str:
    """Commons' Special:FilePath serves the full original (often many MB): ask it for a thumbnail instead."""
    parsed = urlparse(url)
    if parsed.netloc == "commons.wikimedia.org" and "/Special:FilePath/" in parsed.path and not parsed.query:
        return f"{url}?width={COMMONS_THUMB_WIDTH}"
    return url


class ImageLoader:
    """Fetches, caches (raw bytes, under `cache_dir`, keyed by sha1 of the URL) and decodes images."""

    def __init__(self, cache_dir: Path, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels

    def load(self, ref: str | Path) -> LoadedImage:
        ref = str(ref)
        if is_url(ref):
            return self._load_url(ref)
        return self._load_file(ref)

    def open(self, ref: str | Path) -> Image.Image:
        """The decoded image, or InputError saying why it cannot be used (for callers that need the picture)."""
        loaded = self.load(ref)
        if not loaded.ok:
            raise InputError(f"cannot use image {str(ref)!r}: {loaded.skip}")
        return loaded.image

    def first(self, refs: list[str]) -> LoadedImage:
        """The first of `refs` that loads; otherwise the last failure (transient if any failure was)."""
        last = LoadedImage(source="", skip="no image")
        transient = False
        for ref in refs:
            loaded = self.load(ref)
            if loaded.ok:
                return loaded
            transient = transient or loaded.transient
            last = loaded
        last.transient = transient
        return last

    def cache_path(self, url: str) -> Path:
        return self.cache_dir / hashlib.sha1(url.encode("utf-8")).hexdigest()

    def _load_file(self, ref: str) -> LoadedImage:
        path = Path(ref).expanduser()
        try:
            size = path.stat().st_size
        except OSError:
            return LoadedImage(ref, skip="file not found", transient=True)  # it may be added later
        if size > self.max_bytes:
            return LoadedImage(ref, skip=f"larger than {self.max_bytes} bytes")
        try:
            data = path.read_bytes()
        except OSError as exc:
            return LoadedImage(ref, skip=f"unreadable file ({exc.__class__.__name__})")
        return self._decode(ref, data)

    def _load_url(self, url: str) -> LoadedImage:
        cached = self.cache_path(url)
        if cached.is_file():
            loaded = self._decode(url, cached.read_bytes())
            if loaded.ok:
                return loaded
            cached.unlink(missing_ok=True)  # a damaged cache entry is fetched again
        data, failure = self._fetch(url)
        if failure is not None:
            return failure
        loaded = self._decode(url, data)
        if loaded.ok:
            self._store(cached, data)
        return loaded

    def _fetch(self, url: str) -> tuple[bytes, LoadedImage | None]:
        request = urllib.request.Request(download_url(url), headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    return b"", LoadedImage(url, skip=f"larger than {self.max_bytes} bytes")
                data = response.read(self.max_bytes + 1)
        except urllib.error.HTTPError as exc:
            return b"", LoadedImage(url, skip=f"HTTP {exc.code}", transient=exc.code in _RETRYABLE_HTTP)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            return b"", LoadedImage(url, skip=f"unreachable ({reason.__class__.__name__})", transient=True)
        if len(data) > self.max_bytes:
            return b"", LoadedImage(url, skip=f"larger than {self.max_bytes} bytes")
        return data, None

    def _decode(self, source: str, data: bytes) -> LoadedImage:
        """Check the bytes really are one readable raster image, then decode it to RGB."""
        try:
            with Image.open(io.BytesIO(data)) as probe:
                if probe.width * probe.height > self.max_pixels:
                    return LoadedImage(source, skip=f"more than {self.max_pixels} pixels")
                probe.verify()
            image = Image.open(io.BytesIO(data))
            image.draft("RGB", DRAFT_SIZE)
            image.load()
            return LoadedImage(source, image=image.convert("RGB"))
        except _DECODE_ERRORS as exc:
            return LoadedImage(source, skip=f"not a readable image ({exc.__class__.__name__})")

    def _store(self, path: Path, data: bytes) -> None:
        """Atomic write, so that a concurrent or interrupted run never reads half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
