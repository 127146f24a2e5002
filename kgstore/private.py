"""Private by default: what kg keeps under KG_HOME (labels, descriptions, raw input lines, caches, the graph's
files) is the owner's alone, whatever umask kg runs under: folders 0700, files 0600.

kg's own files are created with those modes; trees written by code kg does not control file by file get a
strict umask instead: the embedded graph server is spawned with one (`PRIVATE_UMASK`), and qdrant-client's local
storage is written inside `private_umask()`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PRIVATE_UMASK = 0o077

_lock = threading.Lock()
_depth = 0
_saved = 0


@contextmanager
def private_umask() -> Iterator[None]:
    """Files and folders created meanwhile get no group or other permission bits. The umask is the process's:
    nested or concurrent uses share one change, and the last to leave puts the previous umask back."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = os.umask(PRIVATE_UMASK)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                os.umask(_saved)


def private_dir(path: Path) -> Path:
    """`path` as a folder, it and every missing parent created 0700 (an existing folder is left as it is)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:  # created meanwhile by a concurrent kg
            continue
        p.chmod(0o700)  # mkdir's mode is filtered by the umask, which may be stricter but never looser here
    return path


def private_home(home: Path) -> None:
    """Narrow an existing KG_HOME that group or others may enter (made by hand, or by an older kg) to 0700:
    then nothing beneath it is reachable by another user, files from older versions included."""
    try:
        if Path(home).stat().st_mode & 0o077:
            Path(home).chmod(0o700)
    except FileNotFoundError:
        pass


def open_private(path: Path, mode: str = "a", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` for writing, a new file created 0600 (an existing one keeps its mode); its folder is
    created private when missing."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), mode, **kwargs)
