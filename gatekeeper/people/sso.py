"""Sign in with the school's accounts: OpenID Connect (Microsoft 365, Google Workspace or another
provider), configured per school, for people the school has already invited.

The authorization code flow with PKCE (Authlib's S256 challenge and token generator), a state that
ties the answer to this browser's request and a nonce that ties the ID token to it; the ID token's
signature is checked against the provider's published keys and its issuer, audience, expiry and
nonce are checked too (joserfc, Authlib's JOSE library). Only a verified email address maps to a
person, and only to an account that already holds a role at that school: an uninvited address is
refused, nobody is created. This is the password step only: the second factor follows as usual.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import School
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.models import Membership, User
from gatekeeper.people.models import SchoolSignIn

HTTP_TIMEOUT_S = 10
MAX_RESPONSE_BYTES = 1024 * 1024
# The provider's keys and settings are fetched again after this long (keys rotate).
DISCOVERY_TTL_S = 3600
# From the redirect to the provider until its answer comes back.
FLOW_LIFETIME_S = 600
# A provider's clock a little ahead of ours still works.
CLOCK_LEEWAY_S = 120
SIGNING_ALGORITHMS = ["RS256", "ES256"]  # never "none", never a shared-secret HMAC
SCOPES = "openid email profile"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
PROVIDERS = {
    "Microsoft 365": "https://login.microsoftonline.com/TENANT-ID/v2.0/.well-known/openid-configuration",
    "Google Workspace": "https://accounts.google.com/.well-known/openid-configuration",
}
_discovered: dict[str, tuple[float, dict, KeySet]] = {}


class SignInRefused(Exception):
    """The provider's answer signs nobody in; the message is fit to show, and names no secret."""


@dataclass(frozen=True)
class Flow:
    """What the browser's session keeps between the redirect and the provider's answer."""

    school_id: int
    state: str
    nonce: str
    verifier: str
    since: float

    def as_dict(self) -> dict:
        return {"school": self.school_id, "state": self.state, "nonce": self.nonce,
                "verifier": self.verifier, "since": self.since}


def settings_of(session: Session, school_id: int) -> SchoolSignIn | None:
    return session.scalar(select(SchoolSignIn).where(SchoolSignIn.school_id == school_id))


def enabled_schools(session: Session) -> list[tuple[School, SchoolSignIn]]:
    return [(school, settings) for school, settings in session.execute(
        select(School, SchoolSignIn).join(SchoolSignIn, SchoolSignIn.school_id == School.id)
        .where(SchoolSignIn.enabled).order_by(School.name))]


def check_address(url: str) -> str:
    """HTTPS only (plain http for this machine alone, for a provider under test)."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return url.strip()
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return url.strip()
    raise SignInRefused(_("The provider's address must start with https://."))


def save_settings(session: Session, school_id: int, label: str, discovery_url: str,
                  client_id: str, client_secret: str, enabled: bool, actor: User) -> SchoolSignIn:
    """Create or change a school's sign-in; an empty secret keeps the one stored, for the same
    provider address only. Audited without the secret."""
    label, client_id = " ".join(label.split())[:60], client_id.strip()
    discovery_url = check_address(discovery_url)
    if not label or not client_id or len(client_id) > 200 or len(discovery_url) > 500:
        raise SignInRefused(_("Give the provider's name, its discovery address and the client id."))
    settings = settings_of(session, school_id)
    if settings is None and not client_secret:
        raise SignInRefused(_("Give the client secret."))
    if settings is not None and not client_secret and settings.discovery_url != discovery_url:
        # The stored secret goes only to the provider it was given for.
        raise SignInRefused(_("The provider's address changed: give the client secret again."))
    if settings is None:
        settings = SchoolSignIn(school_id=school_id)
        session.add(settings)
    if client_secret:
        settings.client_secret_sealed = app_cipher().encrypt(client_secret.strip().encode())
    settings.label, settings.discovery_url = label, discovery_url
    settings.client_id, settings.enabled = client_id, enabled
    audit.record(session, "sign_in_settings_saved", school_id=school_id, actor=actor, detail={
        "label": label, "discovery_url": discovery_url, "client_id": client_id,
        "enabled": enabled, "secret_changed": bool(client_secret)})
    return settings


def fetch_json(url: str, form: dict | None = None) -> dict:
    """GET (or POST a form to) the provider; a JSON object, or SignInRefused."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError):
        raise SignInRefused(_("The sign-in provider did not answer. Try again, or sign in with "
                              "your password.")) from None
    try:
        answer = json.loads(body[:MAX_RESPONSE_BYTES])
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SignInRefused(_("The sign-in provider's answer was not understood."))
    return answer


def discover(discovery_url: str) -> tuple[dict, KeySet]:
    """The provider's settings and signing keys, fetched at most once an hour."""
    cached = _discovered.get(discovery_url)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_S:
        return cached[1], cached[2]
    config = fetch_json(discovery_url)
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(config.get(name), str):
            raise SignInRefused(_("The sign-in provider's settings are incomplete."))
        check_address(config[name])
    try:
        keys = KeySet.import_key_set(fetch_json(config["jwks_uri"]))
    except (JoseError, ValueError, TypeError, KeyError):
        raise SignInRefused(_("The sign-in provider's keys could not be read.")) from None
    _discovered[discovery_url] = (time.monotonic(), config, keys)
    return config, keys


def start(settings: SchoolSignIn, redirect_uri: str) -> tuple[str, Flow]:
    """Where to send the browser, and what its session must keep until the answer comes back."""
    config, _keys = discover(settings.discovery_url)
    flow = Flow(settings.school_id, generate_token(32), generate_token(32), generate_token(64),
                time.time())
    url = add_params_to_uri(config["authorization_endpoint"], [
        ("response_type", "code"), ("client_id", settings.client_id),
        ("redirect_uri", redirect_uri), ("scope", SCOPES), ("state", flow.state),
        ("nonce", flow.nonce), ("code_challenge", create_s256_code_challenge(flow.verifier)),
        ("code_challenge_method", "S256")])
    return url, flow


def finish(session: Session, settings: SchoolSignIn, flow: Flow, code: str,
           redirect_uri: str) -> User:
    """Exchange the code, check the ID token, and find the invited person it names."""
    config, keys = discover(settings.discovery_url)
    answer = fetch_json(config["token_endpoint"], {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": settings.client_id, "code_verifier": flow.verifier,
        "client_secret": app_cipher().decrypt(settings.client_secret_sealed).decode()})
    claims = checked_claims(answer.get("id_token"), keys, config["issuer"], settings.client_id,
                            flow.nonce)
    if claims.get("email_verified") is not True and claims.get("xms_edov") is not True:
        raise SignInRefused(_("Your provider did not confirm that this email address is yours, "
                              "so it cannot sign you in. Sign in with your password."))
    return invited_person(session, settings.school_id, str(claims.get("email", "")))


def checked_claims(id_token, keys: KeySet, issuer: str, client_id: str, nonce: str) -> dict:
    """The ID token's claims if its signature, issuer, audience, expiry and nonce all hold."""
    if not isinstance(id_token, str):
        raise SignInRefused(_("The sign-in provider sent no ID token."))
    try:
        token = jwt.decode(id_token, keys, algorithms=SIGNING_ALGORITHMS)
        JWTClaimsRegistry(leeway=CLOCK_LEEWAY_S, iss={"essential": True, "value": issuer},
                          aud={"essential": True, "value": client_id},
                          exp={"essential": True}, nonce={"essential": True, "value": nonce},
                          ).validate(token.claims)
    except (JoseError, ValueError, TypeError):
        raise SignInRefused(_("The sign-in provider's answer did not check out (signature, "
                              "issuer, audience, expiry or nonce). Sign in again.")) from None
    return token.claims


def invited_person(session: Session, school_id: int, email: str) -> User:
    """The active account of this address holding a role at the school; nobody else."""
    email = email.strip().lower()
    user = session.scalar(select(User).where(func.lower(User.email) == email)) if email else None
    member = user is not None and user.active and session.scalar(select(Membership.id).where(
        Membership.user_id == user.id, Membership.school_id == school_id,
        Membership.suspended_at.is_(None)).limit(1)) is not None
    if not member:
        raise SignInRefused(_("%(email)s has no Gatekeeper account at this school. Ask your head "
                              "for an invitation.", email=email[:254] or "?"))
    return user
