"""Files written whole or not at all: a reader, a concurrent run or an interrupted one never sees half a file.
They are the owner's alone (0600, as mkstemp makes them), in folders created 0700."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from kg.kgstore.private import private_dir


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Write to the yielded file; it replaces `path` when the block ends without an error, else it is removed."""
    path = Path(path)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str) -> None:
    with atomic_file(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
