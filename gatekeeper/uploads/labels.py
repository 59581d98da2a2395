"""Words shown for statuses and purposes, translated; shared by every screen that shows them."""

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from consent.wording import Message, from_record
from gatekeeper.publishing.captions import reread_refusal
from gatekeeper.web.wording import say

PURPOSE_LABELS = {
    "website": _l("School website"),
    "social_media": _l("Official social media"),
    "newsletter": _l("Newsletter"),
    "press": _l("Press"),
    "internal_display": _l("Display inside school"),
}
STATUS_LABELS = {
    "uploaded": _l("Queued"),
    "screening": _l("Screening"),
    "cleared": _l("Cleared"),
    "needs_review": _l("Needs review"),
    "blocked": _l("Blocked"),
    "no_faces": _l("No faces found"),
    "unknown": _l("Unknown"),
    "rejected": _l("Refused"),
    "failed": _l("Failed, retrying"),
    "queued": _l("Queued to post"),
    "published": _l("Published"),
    "withdrawn": _l("Withdrawn"),
}


POST_STATE_LABELS = {
    "queued": _l("Waiting to post"),
    "publishing": _l("Posting now"),
    "published": _l("Posted"),
    "failed": _l("Failed, will try again"),
    "held": _l("Held, not posted"),
    "withdrawn": _l("Withdrawn"),
}
TAKEDOWN_STATE_LABELS = {
    "pending": _l("Being removed"),
    "manual": _l("Waiting for a person to remove it"),
    "done": _l("Removed"),
}
ADAPTER_LABELS = {
    "outbox": _l("Outbox folder"),
    "webhook": _l("Signed webhook"),
    "wordpress": _l("WordPress"),
}
CONSENT_STATUS_WORDS = {
    "granted": _l("granted"),
    "refused": _l("refused"),
    "withdrawn": _l("withdrawn"),
}
# Reasons the system stores on posts and takedowns (in English, as the audit keeps them), shown
# in the reader's language with labels instead of the register's keys.
CONSENT_REASON = re.compile(r"^consent (granted|refused|withdrawn) for (\w+)( \(MIS import\))?$")
STORED_REASONS = {
    "added to the no-publish list": _l("added to the no-publish list"),
    "taken back to review before it was posted": _l("taken back to review before it was "
                                                    "posted"),
    "a pupil in the photo is no longer publishable": _l("a pupil in the photo is no longer "
                                                        "publishable"),
    "a face in the photo is no longer identified: review the photo again":
        _l("a face in the photo is no longer identified: review the photo again"),
    "no faces were found and nobody has confirmed the photo":
        _l("no faces were found and nobody has confirmed the photo"),
    "withdrawn while publishing": _l("withdrawn while it was being posted"),
    "register change": _l("a change to the register"),
    "system": _l("Gatekeeper"),
}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status.replace("_", " ")))


def purpose_label(purpose: str) -> str:
    return str(PURPOSE_LABELS.get(purpose, purpose.replace("_", " ")))


def reason_label(reason: str | None) -> str:
    """A stored reason in words, with the purpose's label instead of its key; a reason a person
    typed is shown as they typed it."""
    if not reason:
        return ""
    kept = from_record(reason)  # a record, or a caption's refusal kept in English before
    said = kept if isinstance(kept, Message) else reread_refusal(reason)
    if isinstance(said, Message):
        return say(said)
    consent = CONSENT_REASON.match(reason)
    if consent:
        status, purpose, imported = consent.groups()
        words = _("consent %(status)s for %(purpose)s", status=CONSENT_STATUS_WORDS[status],
                  purpose=purpose_label(purpose))
        return words + (" " + _("(MIS import)") if imported else "")
    return str(STORED_REASONS.get(reason, reason))


def label_globals() -> dict:
    return {
        "status_label": status_label, "purpose_label": purpose_label,
        "post_state_label": lambda s: str(POST_STATE_LABELS.get(s, s)),
        "takedown_state_label": lambda s: str(TAKEDOWN_STATE_LABELS.get(s, s)),
        "adapter_label": lambda a: str(ADAPTER_LABELS.get(a, a)),
        "reason_label": reason_label,
    }
