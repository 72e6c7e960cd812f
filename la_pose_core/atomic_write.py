"""Atomic file writes: the one way la_pose writes a file that must never be half there.

The content goes to a temporary file beside the target, is flushed to disk, and is moved over
the target with ``os.replace``; a crash or a kill leaves either the old file or the new one,
never a torn one, and no temporary file behind when Python gets to clean up.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Create or replace ``path`` with what ``write(stream)`` puts into a binary stream."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Create or replace ``path`` with ``text`` (UTF-8)."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))
