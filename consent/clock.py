"""The school's clock: every decision that depends on a date uses the school's local date.

Consent is given and lapses by the school's calendar (Europe/London), whatever the server's time
zone: a grant that expires on 31 August is valid until midnight in the UK, not until 01:00 BST.
The database stores naive UTC timestamps (consent.models.utcnow).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SCHOOL_ZONE = ZoneInfo("Europe/London")


def school_date(moment: dt.datetime) -> dt.date:
    """The school's local date at a naive-UTC (or aware) moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(SCHOOL_ZONE).date()


def school_today() -> dt.date:
    """Today's date at the school."""
    return school_date(dt.datetime.now(dt.UTC))


def london_to_utc(local: dt.datetime) -> dt.datetime:
    """A naive Europe/London wall-clock time → naive UTC (daylight saving handled)."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=SCHOOL_ZONE)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def utc_to_london(utc: dt.datetime) -> dt.datetime:
    return utc.replace(tzinfo=dt.UTC).astimezone(SCHOOL_ZONE)
