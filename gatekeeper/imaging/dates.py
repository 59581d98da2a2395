"""When a photo was taken, from its own metadata: bytes in, a date or None out."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image

EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 36867  # in the Exif IFD: when the shutter was pressed
DATE_TIME = 306  # in IFD0: when the file was last changed (a fallback)
EXIF_DATE = "%Y:%m:%d %H:%M:%S"


def taken_on(data: bytes) -> dt.date | None:
    """The date in the photo's EXIF (DateTimeOriginal, else DateTime), or None when there is
    none or it cannot be read: a camera's clock is a hint, never a reason to refuse a photo."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            text = exif.get_ifd(EXIF_IFD).get(DATE_TIME_ORIGINAL) or exif.get(DATE_TIME)
        return dt.datetime.strptime(str(text).strip("\x00 ")[:19], EXIF_DATE).date()
    except Exception:  # noqa: BLE001 - no date, a damaged block or an odd format: no date
        return None
