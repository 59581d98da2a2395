"""Pupils' names as people type them to find someone: accents, case and apostrophes set aside."""

from __future__ import annotations

import re
import unicodedata

# An iPad's smart punctuation types O’Brien for O'Brien; names from the MIS hold either.
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
NAME_BREAKS = re.compile(r"[\s\-\u2010\u2013]+")  # between the words of a name: Smith-Jones


def folded(text: str) -> str:
    """A name as it is searched and sorted: accents, case and the kind of apostrophe set aside
    (Sion finds Siôn; ap Dafydd sorts with the a's, not after Z)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(APOSTROPHES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_words(first_name: str, last_name: str) -> list[str]:
    """The words of a pupil's whole name, folded: Mary Jane Smith-Jones is four."""
    return [w for w in NAME_BREAKS.split(folded(f"{first_name} {last_name}")) if w]


def starts_every_word(typed: str, first_name: str, last_name: str) -> bool:
    """Whether each word typed begins some word of the name (Siôn ap Dafydd: "sion dafydd")."""
    words = name_words(first_name, last_name)
    return all(any(w.startswith(part) for w in words) for part in name_words(typed, ""))
