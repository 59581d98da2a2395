"""Publishers: one small interface (publish, delete) behind which each destination sits."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Release:
    """What a publisher receives: the sanitised image and the facts of the post."""

    post_uuid: str
    idempotency_key: str
    image: bytes
    caption: str
    account: str
    platform: str
    purpose: str
    pupils_cleared: list[str]
    released_by: str
    released_at: str
    scheduled_at: str


class PublishError(RuntimeError):
    """The destination refused or could not be reached; the post is retried."""


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class OutboxPublisher:
    """Writes image + JSON side file into a folder, for manual upload or a sync tool."""

    can_delete = True

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def publish(self, release: Release) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = release.post_uuid
        side = {k: v for k, v in release.__dict__.items() if k != "image"}
        side["image_file"] = f"{name}.jpg"
        # Image first, side file last: a sync tool that waits for the JSON never sees half a post.
        _write_atomically(self.folder / f"{name}.jpg", release.image)
        _write_atomically(self.folder / f"{name}.json", json.dumps(side, indent=2).encode())
        return name

    def delete(self, external_id: str) -> None:
        for suffix in (".json", ".jpg"):
            (self.folder / f"{external_id}{suffix}").unlink(missing_ok=True)


def publisher_for(account, outbox_root: Path):
    """The publisher an official account is configured with."""
    if account.adapter == "outbox":
        folder = account.settings.get("folder") or str(outbox_root)
        return OutboxPublisher(Path(folder))
    raise PublishError(f"publisher {account.adapter!r} is not available")
