"""Encryption at rest for biometric data, with a key kept in the instance folder, not the
database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import select

from consent.models import ReferenceFace
from gatekeeper.config import BIOMETRIC_KEY_FILE, read_or_create_secret


def instance_cipher(instance: Path) -> Fernet:
    return Fernet(read_or_create_secret(Path(instance) / BIOMETRIC_KEY_FILE, Fernet.generate_key))


def key_problem(session, instance: Path) -> str | None:
    """Why the instance's biometric key cannot open the face templates the database holds (a
    missing key file would otherwise be replaced by a new one without a word, and every photo
    with a face would fail to screen), or None."""
    sample = session.scalar(select(ReferenceFace.encoding_encrypted).limit(1))
    if sample is None:
        return None
    path = Path(instance) / BIOMETRIC_KEY_FILE
    if not path.exists():
        return (f"{path} is missing, but the database holds face templates sealed with it: copy "
                "it from the server the database came from, or from its backup")
    try:
        instance_cipher(instance).decrypt(sample)
    except InvalidToken:
        return (f"{path} does not open the face templates the database holds: it is another "
                "server's key; copy the right one from the server the database came from, or "
                "from its backup")
    return None


def app_cipher() -> Fernet:
    return instance_cipher(current_app.config["INSTANCE"])


def seal_encoding(cipher: Fernet, encoding: np.ndarray) -> bytes:
    return cipher.encrypt(np.asarray(encoding, dtype=np.float64).tobytes())


def open_encoding(cipher: Fernet, sealed: bytes) -> np.ndarray:
    return np.frombuffer(cipher.decrypt(sealed), dtype=np.float64)


def seal_optional(cipher: Fernet, vector: np.ndarray | None) -> bytes | None:
    """A vector sealed as seal_encoding does, or None for none (a face without that vector)."""
    return None if vector is None else seal_encoding(cipher, vector)


def open_sealed(cipher: Fernet, sealed: bytes | None) -> np.ndarray | None:
    """open_encoding, or None where nothing was sealed."""
    return None if sealed is None else open_encoding(cipher, sealed)
