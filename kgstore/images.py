"""Images for the CLIP encoders: local files or http(s) URLs, cached on disk, bounded in time and size, validated.

Entity images (Commons files from P18, user files) and mention images go through the same loader so both sides
of an image match are decoded alike. A bad image never raises: `load` returns a skip reason, and says whether
trying again later could help (timeouts, server errors) or not (404, not an image, too large).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlparse

from PIL import Image, UnidentifiedImageError

from kg.kgstore.errors import InputError
from kg.kgstore.files import atomic_write

USER_AGENT = "kg-indexer/0.1 (entity knowledge graph; image embedding)"  # Wikimedia refuses anonymous clients
DEFAULT_TIMEOUT = 15.0  # per socket operation
DEFAULT_DEADLINE = 30.0  # for a whole fetch: a server dripping bytes cannot hold a fetch longer
DEFAULT_MAX_BYTES = 20 << 20
DEFAULT_MAX_PIXELS = 25_000_000  # decoded (after JPEG draft scaling); a 188-byte PNG can claim 56 million
DECODE_BUDGET_IMAGES = 2  # pixels being decoded at once, in images of max_pixels, across a loader's threads
KEEP_SIDE = 1024  # decoded images are kept at most this large: CLIP needs 224-448 px
MAX_REDIRECTS = 5
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


def refused_address(host: str) -> str | None:
    """Why an image may not be fetched from `host` (an address or a name, resolved here), or None when every
    address it has is public: loopback, private, link-local (cloud metadata), reserved and multicast addresses are
    refused unless KG_IMAGE_ALLOW_PRIVATE is set."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        return f"unresolvable host ({exc.__class__.__name__})"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            return f"refused: {host} is a non-public address ({ip}); set KG_IMAGE_ALLOW_PRIVATE=1 to allow it"
    return None


class _Refused(Exception):
    pass


class _GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect is checked like the first URL: http(s) only, public addresses unless allowed."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, loader: ImageLoader) -> None:
        self.loader = loader

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        reason = self.loader.refusal(urljoin(req.full_url, newurl))
        if reason is not None:
            raise _Refused(f"redirect {reason}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class ImageLoader:
    """Fetches, caches (raw bytes, under `cache_dir`, keyed by sha1 of the URL) and decodes images.

    Bounded: http(s) only, public addresses only (unless `allow_private`), redirects checked the same way,
    `deadline` seconds per fetch, `max_bytes` per image, `max_pixels` decoded per image, and at most
    DECODE_BUDGET_IMAGES x `max_pixels` being decoded at once by all threads (a batch's images load in parallel).
    """

    def __init__(self, cache_dir: Path, *, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_pixels: int = DEFAULT_MAX_PIXELS, deadline: float = DEFAULT_DEADLINE,
                 allow_private: bool = False):
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.allow_private = allow_private
        self._opener = urllib.request.build_opener(_GuardedRedirects(self))
        self._budget = threading.Condition()
        self._decoding = 0  # pixels being decoded now

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be fetched, or None."""
        parsed = urlparse(url)
        if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
            return f"refused: only http(s) URLs are fetched ({parsed.scheme or 'no scheme'}://)"
        return None if self.allow_private else refused_address(parsed.hostname)

    def load(self, ref: str | Path) -> LoadedImage:
        ref = str(ref)
        if is_url(ref):
            return self._load_url(ref)
        return self._load_file(ref)

    def open(self, ref: str | Path) -> Image.Image:
        """The decoded image, or InputError saying why it cannot be used (for callers that need the picture)."""
        loaded = self.load(ref)
        if loaded.image is None:
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
        target = download_url(url)
        refused = self.refusal(target)
        if refused is not None:
            return b"", LoadedImage(url, skip=refused)
        request = urllib.request.Request(target, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        give_up = time.monotonic() + self.deadline
        try:
            with self._opener.open(request, timeout=min(self.timeout, self.deadline)) as response:
                length = response.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    return b"", LoadedImage(url, skip=f"larger than {self.max_bytes} bytes")
                chunks, size = [], 0
                while size <= self.max_bytes:
                    if time.monotonic() > give_up:
                        return b"", LoadedImage(url, skip=f"took longer than {self.deadline:g} s", transient=True)
                    chunk = response.read1(64 << 10)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                data = b"".join(chunks)
        except _Refused as exc:
            return b"", LoadedImage(url, skip=str(exc))
        except urllib.error.HTTPError as exc:
            return b"", LoadedImage(url, skip=f"HTTP {exc.code}", transient=exc.code in _RETRYABLE_HTTP)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            return b"", LoadedImage(url, skip=f"unreachable ({reason.__class__.__name__})", transient=True)
        if len(data) > self.max_bytes:
            return b"", LoadedImage(url, skip=f"larger than {self.max_bytes} bytes")
        return data, None

    def _decode(self, source: str, data: bytes) -> LoadedImage:
        """Check the bytes really are one readable raster image, then decode it to RGB, within the pixel budgets,
        and keep it at most KEEP_SIDE pixels a side."""
        try:
            with Image.open(io.BytesIO(data)) as probe:
                probe.verify()
            image = Image.open(io.BytesIO(data))
            image.draft("RGB", DRAFT_SIZE)  # JPEGs decode at reduced scale: the size below is what gets decoded
            pixels = image.width * image.height
            if pixels > self.max_pixels:
                return LoadedImage(source, skip=f"more than {self.max_pixels} pixels")
            with self._decode_budget(pixels):
                image.load()
                rgb = image.convert("RGB")
            rgb.thumbnail((KEEP_SIDE, KEEP_SIDE))
            return LoadedImage(source, image=rgb)
        except _DECODE_ERRORS as exc:
            return LoadedImage(source, skip=f"not a readable image ({exc.__class__.__name__})")

    @contextmanager
    def _decode_budget(self, pixels: int) -> Iterator[None]:
        """Wait until `pixels` fit in the budget shared by this loader's threads (one image always fits)."""
        budget = DECODE_BUDGET_IMAGES * self.max_pixels
        with self._budget:
            self._budget.wait_for(lambda: self._decoding == 0 or self._decoding + pixels <= budget)
            self._decoding += pixels
        try:
            yield
        finally:
            with self._budget:
                self._decoding -= pixels
                self._budget.notify_all()

    def _store(self, path: Path, data: bytes) -> None:
        """Atomic write, so that a concurrent or interrupted run never reads half a file."""
        try:  # noqa: SIM105 (the comment below says why nothing is done)
            atomic_write(path, data)
        except OSError:  # a cache that cannot be written is no error: the image was loaded
            pass
