"""Files written whole or not at all: through a temporary name in the same folder, then renamed
(``os.replace`` is atomic on one filesystem), so an interrupted run never leaves half a file
under the real name, and a failed write leaves no temporary file behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` then rename ``tmp`` to ``path``; returns ``path``. The temporary name is
    ``.<stem>.tmp<suffix>`` beside it: the suffix is kept, for writers that read the format from it
    (matplotlib) or add it (``np.save``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["atomic_write"]
