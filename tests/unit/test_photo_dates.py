"""The date a photo was taken, from its own EXIF: a hint that never refuses a photo."""

import datetime as dt
import io

import piexif
from PIL import Image

from gatekeeper.imaging.dates import taken_on


def jpeg(exif: dict | None) -> bytes:
    out = io.BytesIO()
    kwargs = {"exif": piexif.dump(exif)} if exif else {}
    Image.new("RGB", (32, 32), (200, 100, 50)).save(out, "JPEG", **kwargs)
    return out.getvalue()


def test_the_original_date_wins_over_the_file_date():
    data = jpeg({"0th": {piexif.ImageIFD.DateTime: b"2020:01:02 03:04:05"},
                 "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2019:12:25 09:00:00"}})
    assert taken_on(data) == dt.date(2019, 12, 25)
    assert taken_on(jpeg({"0th": {piexif.ImageIFD.DateTime: b"2020:01:02 03:04:05"}})) == (
        dt.date(2020, 1, 2))


def test_no_date_a_bad_date_or_no_photo_gives_none():
    assert taken_on(jpeg(None)) is None
    unset = {"Exif": {piexif.ExifIFD.DateTimeOriginal: b"0000:00:00 00:00:00"}}
    assert taken_on(jpeg(unset)) is None
    assert taken_on(jpeg({"Exif": {piexif.ExifIFD.DateTimeOriginal: b"yesterday"}})) is None
    assert taken_on(b"") is None and taken_on(b"\xff\xd8\xff\xe1garbage") is None
