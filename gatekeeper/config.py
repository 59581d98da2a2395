"""Settings: defaults here, overridden from the environment, secrets generated into the instance."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

# One photo or clip per request: a photo is at most 60 MB (uploads/service.py), a clip of three
# minutes of 4K HEVC from an iPad about 600 MB.
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
SECRET_KEY_FILE = "secret_key"
# Everything Gatekeeper creates (database, queue, keys, anchor, storage, outbox) is owner-only.
INSTANCE_UMASK = 0o077
OWNER_ONLY_DIR, OWNER_ONLY_FILE = 0o700, 0o600
BIOMETRIC_KEY_FILE = "biometric.key"


def instance_path() -> Path:
    return Path(os.environ.get("GATEKEEPER_INSTANCE", "instance")).resolve()


def read_or_create_secret(path: Path, make) -> bytes:
    """Read a secret file, creating it (owner-only) on first run; it is never committed."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(make())
    return path.read_bytes().strip()


# SQLite: readers never block the writer (WAL), and a writer waits for the lock instead of failing
# at once with "database is locked" when the web app and the worker write together.
SQLITE_BUSY_TIMEOUT_MS = 15_000


def sqlite_pragmas(dbapi_connection, _record) -> None:
    """Set on every new SQLite connection (the journal mode sticks to the file; the timeout
    does not)."""
    if type(dbapi_connection).__module__.split(".")[0] not in ("sqlite3", "pysqlite2"):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def use_sqlite_pragmas() -> None:
    if not event.contains(Engine, "connect", sqlite_pragmas):
        event.listen(Engine, "connect", sqlite_pragmas)


def secure_instance(instance: Path) -> None:
    """Owner-only from now on (umask 077), and tighten what an older version left readable."""
    os.umask(INSTANCE_UMASK)
    instance = Path(instance)
    instance.mkdir(parents=True, exist_ok=True)
    for path in [instance, *instance.iterdir()]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        wanted = OWNER_ONLY_DIR if path.is_dir() else OWNER_ONLY_FILE
        if mode & 0o077:
            path.chmod(mode & wanted)


class Config:
    TESTING = False
    INSTANCE = instance_path()
    SQLALCHEMY_DATABASE_URI = ""
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = ""
    HUEY_IMMEDIATE = False
    HUEY_NAME = "gatekeeper"
    MAX_CONTENT_LENGTH = MAX_UPLOAD_BYTES
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = 8 * 3600  # a school day from signing in
    # The cookie is sent only when the session changed. Refreshed on every response, a picture
    # still loading with the cookie from before an action sent the older session back, and the
    # browser lost what the action stored (its flashed message, a second factor's progress).
    SESSION_REFRESH_EACH_REQUEST = False
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    BOOTSTRAP_SERVE_LOCAL = True  # schools' networks block CDNs
    BABEL_DEFAULT_LOCALE = "en"
    LANGUAGES = ("en", "cy")
    PURPOSES = ("website", "social_media", "newsletter", "press", "internal_display")
    REQUIRE_BIOMETRIC_CONSENT = True
    RETENTION_DAYS = 30


class DevelopmentConfig(Config):
    # `make run` serves plain http on 127.0.0.1; production sits behind TLS.
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False


class ProductionConfig(Config):
    pass


class TestConfig(Config):
    TESTING = True
    # A lighter scrypt for the suite's sign-ins (production keeps people.auth.PASSWORD_HASH_METHOD).
    PASSWORD_HASH_METHOD = "scrypt:2048:8:1"
    HUEY_IMMEDIATE = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False


CONFIGS = {"development": DevelopmentConfig, "production": ProductionConfig, "test": TestConfig}


# Upload limits (defaults in gatekeeper/uploads/service.py, where the rule lives).
LIMIT_VARIABLES = {"GATEKEEPER_UPLOADS_PER_HOUR": "UPLOADS_PER_USER_PER_HOUR",
                   "GATEKEEPER_SCHOOL_MEGAPIXELS_PER_DAY": "SCHOOL_MEGAPIXELS_PER_DAY",
                   "GATEKEEPER_VIDEO_MAX_SECONDS": "CLIP_MAX_SECONDS"}


def _limits_from_environment() -> dict:
    return {setting: int(os.environ[variable]) for variable, setting in LIMIT_VARIABLES.items()
            if os.environ.get(variable, "").strip().isdigit()}


def settings_from_environment(config: type[Config]) -> dict:
    """Resolve instance-relative defaults and environment overrides into a settings dict."""
    instance = Path(os.environ.get("GATEKEEPER_INSTANCE", config.INSTANCE)).resolve()
    secure_instance(instance)
    sqlite_url = f"sqlite:///{instance / 'gatekeeper.db'}"
    return {
        "INSTANCE": instance,
        "STORAGE_DIR": Path(os.environ.get("GATEKEEPER_STORAGE", instance / "storage")),
        "OUTBOX_DIR": Path(os.environ.get("GATEKEEPER_OUTBOX", instance / "outbox")),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or sqlite_url,
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "HUEY_NAME": os.environ.get("GATEKEEPER_QUEUE_NAME", "gatekeeper"),
        **_limits_from_environment(),
        "SECRET_KEY": os.environ.get("SECRET_KEY")
        or read_or_create_secret(
            instance / SECRET_KEY_FILE, lambda: secrets.token_hex(32).encode()
        ).decode(),
    }
