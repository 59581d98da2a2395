"""Official accounts: the head sets them up, approves them, pauses them and says who may release.

Adapter secrets (webhook secret, WordPress application password) are sealed with the instance key
before they reach the database, are never shown again, and never enter a log or the audit trail.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.imaging.sanitise import QUALITY_RANGE
from gatekeeper.models import AccountReleaser, Membership, OfficialAccount, User
from gatekeeper.publishing.adapters import ADAPTERS, Publisher, publisher_for

MIN_ADMINS = 2
MAX_SIDE_RANGE = range(320, 4097)
VISIBILITIES = ("open", "closed")
SEALED_KEY = "secret_sealed"
# The form field holding each adapter's secret, and its plain settings.
SECRET_FIELD = {"webhook": "secret", "wordpress": "app_password"}
PLAIN_SETTINGS = {"outbox": (), "webhook": ("url",), "wordpress": ("base_url", "username")}
URL_SETTINGS = ("url", "base_url")
# Each plain setting as its field is labelled on the accounts page.
SETTING_LABELS = {"url": _l("Webhook address (https)"),
                  "base_url": _l("WordPress site address (https)"),
                  "username": _l("WordPress user name")}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TEXT_LIMIT = 2000


class AccountError(ValueError):
    """The account form or action was refused; the message is fit to show the head."""


def check_destination(url: str) -> str:
    """An https address (plain http only to this machine, for a local relay or a test)."""
    parts = urllib.parse.urlsplit(url.strip())
    secure = (parts.scheme == "https"
              or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS))
    if not secure or not parts.hostname or parts.username or parts.password:
        raise AccountError(_("Give an https address without a user name or password in it."))
    return url.strip()


def _int_in(value, allowed: range, label: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number not in allowed:
        raise AccountError(_("%(label)s must be between %(lo)d and %(hi)d.", label=label,
                             lo=allowed.start, hi=allowed.stop - 1))
    return number


def _settings(form: Mapping, adapter: str, old: OfficialAccount | None) -> dict:
    settings = {}
    for key in PLAIN_SETTINGS[adapter]:
        value = (form.get(key) or "").strip()
        if not value:
            raise AccountError(_("Fill in %(field)s for this publisher.",
                                 field=SETTING_LABELS.get(key, key)))
        settings[key] = check_destination(value) if key in URL_SETTINGS else value
    if adapter == "webhook":
        settings["can_delete"] = form.get("can_delete") == "yes"
    if adapter in SECRET_FIELD:
        secret = form.get(SECRET_FIELD[adapter]) or ""
        if secret:
            settings[SEALED_KEY] = app_cipher().encrypt(secret.encode()).decode()
        elif old is not None and old.adapter == adapter and old.settings.get(SEALED_KEY):
            # Blank field: keep the stored secret, which goes only to the address it was given for.
            if any(settings.get(key) != old.settings.get(key) for key in URL_SETTINGS):
                raise AccountError(_("The publisher's address changed: give its secret again."))
            settings[SEALED_KEY] = old.settings[SEALED_KEY]
        else:
            raise AccountError(_("Give the publisher's secret."))
    return settings


def save_account(session: Session, school_id: int, form: Mapping, head: User,
                 account: OfficialAccount | None = None) -> OfficialAccount:
    """Create or change an account; any change needs the head's approval again."""
    adapter = form.get("adapter", "")
    if adapter not in ADAPTERS:
        raise AccountError(_("Choose a publisher."))
    purposes = _purposes()
    if form.get("purpose") not in purposes:
        raise AccountError(_("Choose what the account is for."))
    platform, handle = (form.get("platform") or "").strip(), (form.get("handle") or "").strip()
    if not platform or not handle:
        raise AccountError(_("Give the platform and the account's handle or address."))
    if form.get("visibility") not in VISIBILITIES:
        raise AccountError(_("Say whether the account is open or closed."))
    values = dict(
        platform=platform[:40], handle=handle[:200], purpose=form["purpose"], adapter=adapter,
        settings_json=json.dumps(_settings(form, adapter, account)),
        max_side=_int_in(form.get("max_side"), MAX_SIDE_RANGE, _("Output size")),
        quality=_int_in(form.get("quality"), QUALITY_RANGE, _("JPEG quality")),
        aim=(form.get("aim") or "").strip()[:TEXT_LIMIT],
        audience=(form.get("audience") or "").strip()[:TEXT_LIMIT],
        promotion=(form.get("promotion") or "").strip()[:TEXT_LIMIT],
        visibility=form["visibility"],
        admin_names_json=json.dumps(_admin_names(form.get("admin_names", ""))),
    )
    if account is None:
        account = OfficialAccount(school_id=school_id)
        session.add(account)
    for key, value in values.items():
        setattr(account, key, value)
    account.approved_by_id, account.approved_at = None, None
    session.flush()
    audit.record(session, "account_saved", school_id=school_id, actor=head, subject=account,
                 detail={"account": account.label, "purpose": account.purpose,
                         "adapter": account.adapter, "admins": account.admin_names})
    return account


def _purposes() -> tuple[str, ...]:
    return tuple(current_app.config["PURPOSES"])


def _admin_names(text: str) -> list[str]:
    return list(dict.fromkeys(n.strip()[:200] for n in text.splitlines() if n.strip()))


def approval_gaps(account: OfficialAccount) -> list[str]:
    """What the head must still supply before approving: the business case and two admins."""
    gaps = []
    if not (account.aim and account.audience and account.promotion):
        gaps.append(_("Write the business case: aim, audience and how the account is promoted."))
    if len(account.admin_names) < MIN_ADMINS:
        gaps.append(_("Name at least %(n)d admins of the account.", n=MIN_ADMINS))
    return gaps


def approve_account(session: Session, account: OfficialAccount, head: User) -> None:
    gaps = approval_gaps(account)
    if gaps:
        raise AccountError(" ".join(gaps))
    account.approved_by_id, account.approved_at = head.id, utcnow()
    audit.record(session, "account_approved", school_id=account.school_id, actor=head,
                 subject=account, detail={"account": account.label})


def set_paused(session: Session, account: OfficialAccount, paused: bool, head: User) -> None:
    account.paused = paused
    audit.record(session, "account_paused" if paused else "account_resumed",
                 school_id=account.school_id, actor=head, subject=account,
                 detail={"account": account.label})


def media_leads(session: Session, school_id: int) -> list[User]:
    return list(session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.school_id == school_id, Membership.role == "media_lead")
        .order_by(User.name)
    ))


def authorise_releasers(session: Session, account: OfficialAccount, user_ids: Iterable[int],
                        head: User) -> list[str]:
    """Set who may release to the account: media leads of the school only."""
    allowed = {u.id: u for u in media_leads(session, account.school_id)}
    chosen = {uid for uid in user_ids if uid in allowed}
    current = {r.user_id: r for r in session.scalars(
        select(AccountReleaser).where(AccountReleaser.account_id == account.id))}
    for uid, row in current.items():
        if uid not in chosen:
            session.delete(row)
    for uid in chosen - current.keys():
        session.add(AccountReleaser(account_id=account.id, user_id=uid, authorised_by_id=head.id))
    emails = sorted(allowed[uid].email for uid in chosen)
    audit.record(session, "account_releasers_set", school_id=account.school_id, actor=head,
                 subject=account, detail={"account": account.label, "releasers": emails})
    return emails


def releaser_ids(session: Session, account: OfficialAccount) -> set[int]:
    return set(session.scalars(
        select(AccountReleaser.user_id).where(AccountReleaser.account_id == account.id)))


def may_release(session: Session, account: OfficialAccount, user: User) -> bool:
    """A media lead of the account's school whom the head authorised for this account."""
    return ("media_lead" in user.roles_at(account.school_id)
            and user.id in releaser_ids(session, account))


def account_publisher(account: OfficialAccount) -> Publisher:
    """The account's publisher with its secret unsealed (in memory only)."""

    sealed = account.settings.get(SEALED_KEY)
    secret = app_cipher().decrypt(sealed.encode()).decode() if sealed else ""
    return publisher_for(account, current_app.config["OUTBOX_DIR"], secret)
