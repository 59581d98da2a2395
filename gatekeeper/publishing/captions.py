"""Caption checks (pure): no pupil's name in a caption, nothing that locates a child."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# UK postcode, outward and inward parts (e.g. "SW1A 1AA", "M1 1AE").
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
# A number followed by a street word: "12 Acacia Avenue", "4a High Street".
HOUSE_NUMBER = re.compile(
    r"\b\d+[a-z]?\s+(?:[A-Z][a-z]+\s+)*(?:street|st|road|rd|avenue|ave|lane|ln|close|drive|dr|way|"
    r"crescent|court|place|gardens|grove|terrace|hill|park|row|square|walk|mews)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CaptionCheck:
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _contains_word(text: str, phrase: str) -> bool:
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


def check_caption(caption: str, names: Iterable[tuple[str, str]]) -> CaptionCheck:
    """Names are (first, last) of every pupil on the register: surnames block, first names warn."""
    errors: list[str] = []
    warnings: list[str] = []
    for first, last in names:
        if _contains_word(caption, f"{first} {last}"):
            errors.append(f"contains a pupil's full name ({first} {last})")
        elif _contains_word(caption, last):
            errors.append(f"contains a pupil's surname ({last})")
        elif _contains_word(caption, first):
            warnings.append(f"contains a first name used by a pupil ({first})")
    if POSTCODE.search(caption):
        warnings.append("contains what looks like a postcode")
    if HOUSE_NUMBER.search(caption):
        warnings.append("contains what looks like a house number and street")
    return CaptionCheck(tuple(dict.fromkeys(errors)), tuple(dict.fromkeys(warnings)))
