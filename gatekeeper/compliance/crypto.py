"""Encryption at rest for biometric data, with a key kept in the instance folder, not the
database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cryptography.fernet import Fernet
from flask import current_app

from gatekeeper.config import BIOMETRIC_KEY_FILE, read_or_create_secret


def instance_cipher(instance: Path) -> Fernet:
    return Fernet(read_or_create_secret(Path(instance) / BIOMETRIC_KEY_FILE, Fernet.generate_key))


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
