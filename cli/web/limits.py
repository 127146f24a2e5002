"""What one `kg serve` request may ask of the link worker, so that no request holds it for minutes. The limits are
constraints of the request model (so the OpenAPI schema states them) and a request over one gets 413 naming it."""

from __future__ import annotations

from kg.kgstore.errors import InputError

MAX_TEXT_CHARS = 100_000  # a long news article is 20,000; the linking cost grows faster than the text
MAX_MENTIONS = 1_000  # given or detected; graph coherence compares every pair of a document's mentions


class TooLarge(InputError):
    """A request over a per-request limit: the client should split it (HTTP 413)."""


def text_too_long(chars: int) -> TooLarge:
    return TooLarge(f"text: {chars:,} characters, over the limit of {MAX_TEXT_CHARS:,} characters a request: "
                    "split the text and send the parts as separate requests")


def too_many_mentions(count: int, detected: bool) -> TooLarge:
    kind = "detected mentions" if detected else "mentions"
    return TooLarge(f"{kind}: {count:,}, over the limit of {MAX_MENTIONS:,} a request: split the text and send the "
                    "parts as separate requests")
