"""Whether this instance's biometric key is the one the database's sealed data was sealed with:
checked before the server starts (init, the worker), so that a key file never copied to a host,
or a database restored without its key, is named at once instead of replaced without a word."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ReferenceFace
from gatekeeper.compliance.crypto import instance_cipher
from gatekeeper.config import BIOMETRIC_KEY_FILE
from gatekeeper.models import Face
from gatekeeper.people.models import SchoolSignIn, SecondFactor

# Every kind of row the key seals, one sample of each: reference faces, faces found in photos
# and clips, staff's second factors, a school's sign-in secret.
SEALED = (ReferenceFace.encoding_encrypted, Face.encoding_encrypted, SecondFactor.secret_sealed,
          SchoolSignIn.client_secret_sealed)


def key_problem(session: Session, instance: Path) -> str | None:
    """Why the instance's key cannot open what the database holds sealed with it, or None."""
    samples = [sample for column in SEALED
               if (sample := session.scalar(select(column).where(column.is_not(None)).limit(1)))]
    if not samples:
        return None
    path = Path(instance) / BIOMETRIC_KEY_FILE
    if not path.exists():
        return (f"{path} is missing, but the database holds data sealed with it (face templates, "
                "second factors): copy it from the server the database came from, or from its "
                "backup")
    cipher = instance_cipher(instance)
    try:
        for sample in samples:
            cipher.decrypt(sample)
    except InvalidToken:
        return (f"{path} does not open the data the database holds sealed (face templates, "
                "second factors): it is another server's key; copy the right one from the server "
                "the database came from, or from its backup")
    return None
