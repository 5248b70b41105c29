"""Writing files so that a reader never sees half of one (a crash leaves the old file)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_json_atomic(
    path: Path, data: Mapping[str, Any], mode: int = 0o644, *, compact: bool = False
) -> None:
    """Write `data` as JSON through a temp file in the same directory (created with `mode`,
    flushed to disk), then rename it over `path`. `compact` writes one line, as spotipy does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if compact:
                json.dump(dict(data), f)
            else:
                json.dump(data, f, indent=2, sort_keys=True)
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
