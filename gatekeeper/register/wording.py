"""The register's words: statuses, sources, categories, and each purpose in plain words."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l

from consent.clock import utc_to_london
from gatekeeper.uploads.labels import purpose_label

# What each purpose means, said to a parent (a purpose added in the settings gets its name only).
PURPOSE_EXPLANATIONS = {
    "website": _l("Photos on the school's own website, which anyone can see."),
    "social_media": _l("Photos on the school's official social media accounts (such as Facebook), "
                       "which anyone can see and share. Your child's name is never given."),
    "newsletter": _l("Photos in the school newsletter sent to families."),
    "press": _l("Photos given to local newspapers or news websites, for example of a prize or a "
                "match."),
    "internal_display": _l("Photos on display boards and screens inside the school building."),
}
CONSENT_STATUS_LABELS = {
    "granted": _l("granted"),
    "refused": _l("refused"),
    "withdrawn": _l("withdrawn"),
}
BIOMETRIC_STATUS_LABELS = {
    "granted": _l("written consent"),
    "objected": _l("objection"),
    "withdrawn": _l("withdrawn"),
}
SOURCE_LABELS = {
    "paper": _l("paper form"),
    "parent_link": _l("via parent link"),
    "import": _l("MIS import"),
    "cli": _l("command line"),
    "renewal": _l("renewal"),
}
RELATIONSHIP_LABELS = {
    "parent": _l("parent"),
    "carer": _l("carer"),
    "guardian": _l("guardian"),
    "other": _l("other"),
    "pupil": _l("the pupil"),
}
# Only the DSL ever sees these: every other role sees PROTECTED and nothing more.
CATEGORY_LABELS = {
    "looked_after": _l("looked after child"),
    "court_order": _l("court order"),
    "safeguarding": _l("safeguarding concern"),
    "parental_request": _l("parental request"),
    "other": _l("other"),
}
PROTECTED = _l("protected — do not publish")
ANSWER_LABELS = {
    "yes": _l("Yes"),
    "no": _l("No"),
    "not_in_force": _l("Yes, but it has lapsed: please answer again"),
    "none": _l("Not answered yet"),
}


def explain_purpose(purpose: str) -> str:
    return str(PURPOSE_EXPLANATIONS.get(purpose, purpose_label(purpose)))


def label(labels: dict, key: str | None) -> str:
    return str(labels.get(key, (key or "").replace("_", " ")))


def school_time(moment: dt.datetime | None) -> str:
    """A stored (naive UTC) time as the school reads it: Europe/London, day first."""
    return utc_to_london(moment).strftime("%d/%m/%Y %H:%M") if moment else ""


def register_globals() -> dict:
    """Template helpers for the register's screens."""
    return {
        "school_time": school_time,
        "purpose_label": purpose_label,
        "explain_purpose": explain_purpose,
        "consent_status_label": lambda s: label(CONSENT_STATUS_LABELS, s),
        "biometric_status_label": lambda s: label(BIOMETRIC_STATUS_LABELS, s),
        "source_label": lambda s: label(SOURCE_LABELS, s),
        "relationship_label": lambda s: label(RELATIONSHIP_LABELS, s),
        "answer_label": lambda s: label(ANSWER_LABELS, s),
    }
