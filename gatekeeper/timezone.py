"""Schools schedule in UK local time; the database stores UTC."""

from __future__ import annotations

import datetime as dt

from consent.clock import SCHOOL_ZONE as LONDON


def london_to_utc(local: dt.datetime) -> dt.datetime:
    """A naive Europe/London wall-clock time → naive UTC (daylight saving handled)."""
    if local.tzinfo is None:
        local = local.replace(tzinfo=LONDON)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def utc_to_london(utc: dt.datetime) -> dt.datetime:
    return utc.replace(tzinfo=dt.UTC).astimezone(LONDON)
