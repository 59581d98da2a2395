"""Quarantine storage for originals, named by UUID, outside any static folder."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from flask import current_app

CHUNK = 1024 * 1024
RENDERINGS = "renderings"


class StorageError(OSError):
    """The file could not be stored; nothing was left behind."""


class Storage:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, kind: str, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError("bad storage name")
        return self.root / kind / name

    def save(self, kind: str, name: str, stream: BinaryIO, limit: int) -> tuple[int, str]:
        """Stream into place atomically; return (size, sha256). Refuses more than `limit` bytes."""
        target = self._path(kind, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise StorageError("file too large")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    def write_bytes(self, kind: str, name: str, data: bytes) -> Path:
        self.save(kind, name, io.BytesIO(data), limit=len(data) + 1)
        return self._path(kind, name)

    def read(self, kind: str, name: str) -> bytes:
        return self._path(kind, name).read_bytes()

    def path(self, kind: str, name: str) -> Path:
        return self._path(kind, name)

    def exists(self, kind: str, name: str) -> bool:
        return self._path(kind, name).exists()

    def delete(self, kind: str, name: str) -> None:
        self._path(kind, name).unlink(missing_ok=True)

    def delete_photo(self, photo_uuid: str) -> None:
        """The original and every sanitised rendering made from it (named `<uuid>-<key>`)."""
        self.delete("originals", photo_uuid)
        for rendering in (self.root / RENDERINGS).glob(f"{photo_uuid}-*"):
            rendering.unlink(missing_ok=True)


def app_storage() -> Storage:
    return Storage(current_app.config["STORAGE_DIR"])
