"""kg.kgstore.chunks.chunked: the batching every writer and linker loop relies on."""

import pytest

from kg.kgstore.chunks import chunked


def test_chunks_keep_order_and_end_with_the_remainder() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked(iter("ab"), 2)) == [["a", "b"]]
    assert list(chunked([], 4)) == []


def test_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked([1], 0))
