"""Content-addressed artifact store under ``QGAP_HOME/artifacts``.

A file's name is the sha256 of its bytes, so an artifact can never change behind a ledger row
that names it, and writing the same content twice is a no-op. Writes are atomic: temp file in
the same directory, fsync, rename, fsync of the directory; a crash leaves either nothing or the
whole file.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pandas as pd

from qgap_assets.ledger.hashing import canonical_json, sha256_hex


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put_bytes(self, data: bytes, suffix: str) -> Path:
        digest = sha256_hex(data)
        path = self.root / f"{digest}{suffix}"
        if not path.exists():
            atomic_write(path, data)
        return path

    def put_json(self, obj: object) -> Path:
        return self.put_bytes(canonical_json(obj).encode("utf-8"), ".json")

    def put_frame(self, frame: pd.DataFrame) -> Path:
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return self.put_bytes(buf.getvalue(), ".parquet")

    def path_of(self, ref: str) -> Path:
        return self.root / ref

    @staticmethod
    def verify(path: Path) -> bool:
        """True when the file's bytes still hash to its name."""
        return path.is_file() and sha256_hex(path.read_bytes()) == path.name.split(".", 1)[0]
