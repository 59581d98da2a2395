"""The roles a person can hold at a school, as the screens and emails name them."""

from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "staff": _l("Staff (uploads photos)"),
    "admin": _l("Admin (keeps the register)"),
    "dsl": _l("DSL (no-publish list)"),
    "media_lead": _l("Media lead (reviews and releases)"),
    "head": _l("Head"),
    "trust_admin": _l("Trust admin (schools and their heads)"),
    "dpo": _l("Data protection officer (audit trail, subject access)"),
}
