"""Words shown for statuses and purposes, translated; shared by every screen that shows them."""

from flask_babel import lazy_gettext as _l

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


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status.replace("_", " ")))


def purpose_label(purpose: str) -> str:
    return str(PURPOSE_LABELS.get(purpose, purpose.replace("_", " ")))


def label_globals() -> dict:
    return {"status_label": status_label, "purpose_label": purpose_label}
