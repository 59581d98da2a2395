"""Caption checks (pure): no pupil's name in a caption, nothing that locates a child.

Captions and names are both normalised before matching, so a name cannot slip through as a hashtag
(`#AvaThompson`), with an invisible character (`Thomp\\u200bson`), with a look-alike letter from
another script (Cyrillic `о`), spaced out (`T h o m p s o n`) or with a plural or possessive ending
(`Thompsons`, `Thompson's`). Matching stays on whole words, so `Turingesque` is not `Turing`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from consent.wording import N_, Message, joined, reread

# UK postcode, outward and inward parts (e.g. "SW1A 1AA", "M1 1AE").
POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
# A number followed by a street word: "12 Acacia Avenue", "4a High Street".
HOUSE_NUMBER = re.compile(
    r"\b\d+[a-z]?\s+(?:[A-Z][a-z]+\s+)*(?:street|st|road|rd|avenue|ave|lane|ln|close|drive|dr|way|"
    r"crescent|court|place|gardens|grove|terrace|hill|park|row|square|walk|mews)\b",
    re.IGNORECASE,
)
# Letters of other scripts that look like Latin ones (from Unicode's confusables list: Cyrillic,
# Greek, Armenian, Latin small capitals, a few symbols); NFKC already folds full-width and
# mathematical letters.
CONFUSABLES = str.maketrans({
    **dict(zip("авсдеёһіїјklмнопрѕтуухьԁԛԝгѵѡ", "abcdeehiijklmhonpstyyxbdqwrvw", strict=True)),
    **dict(zip("АВСЕНІЈКМНОРЅТХУԌԚԜ", "ABCEHIJKMHOPSTXYGQW", strict=True)),
    **dict(zip("үӏӀҮҺԍʋνϱςѵ", "ylIYHGvvpcv", strict=True)),
    **dict(zip("αβεικνορτυχωϲϳ", "abeiknoptuxwcj", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹ", "ABEZHIKMNOPTYXC", strict=True)),
    **dict(zip("օսոհց", "ounhg", strict=True)),
    **dict(zip("ɑɡɩɪʏᴀᴄᴅᴇᴊᴋᴍᴏᴘᴛᴜᴠᴡᴢ", "agiiyacdejkmoptuvwz", strict=True)),
    "ı": "i", "ȷ": "j", "ℓ": "l", "ſ": "s", "ß": "ss", "æ": "ae", "Æ": "AE", "ø": "o", "Ø": "O",
    "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "0": "o", "1": "l", "3": "e", "5": "s",
    "@": "a", "$": "s", "ʼ": "'", "ʻ": "'", "ʹ": "'", "ˈ": "'", "´": "'", "`": "'",
})
# Leetspeak digits and symbols are folded only inside words that also hold letters (see _fold).
LEET = re.compile(r"(?<=[^\W\d_])[013@$5]|[013@$5](?=[^\W\d_])")
WORD = re.compile(r"[^\W_]+")
CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
ENDINGS = ("", "s", "es")  # plural; a possessive's apostrophe splits it into a word of its own
MIN_SPACED_LETTERS = 3  # "T h o m p s o n": a run of this many single letters is read as one word
MIN_TAG_AFFIX = 4  # a surname this long at the start or end of a hashtag blocks (#TeamThompson)
# A shorter one only warns: "#sportsday" must not block every post of a school with a pupil Day.
FULL_NAME = N_("contains a pupil's full name (%(name)s)")
SURNAME = N_("contains a pupil's surname (%(name)s)")
# Why the gate held a post for its caption; a post keeps it as a record (consent.wording).
CAPTION_REFUSED = N_("caption refused: %(problems)s")
@dataclass(frozen=True)
class CaptionCheck:
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _fold(text: str) -> str:
    """NFKC, invisible characters dropped, look-alikes and accents folded to plain Latin."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Mn", "Me", "Cc")
                   or c in "\n\t")
    text = LEET.sub(lambda m: m.group(0).translate(CONFUSABLES), text)
    text = "".join(c.translate(CONFUSABLES) if not c.isdigit() and c not in "@$" else c
                   for c in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


def _words(chunk: str) -> list[str]:
    """The words of one space-free chunk, split at anything but a letter or digit."""
    return [word.casefold() for word in WORD.findall(chunk)]


def _camel_parts(chunk: str) -> list[str]:
    """A chunk's words with camel case split too: "#AvaThompson" → ava, thompson."""
    return [part.casefold() for word in WORD.findall(chunk)
            for part in (CAMEL.findall(word) or [word])]


@lru_cache(maxsize=16384)
def _name_words(name: str) -> tuple[str, ...]:
    """A register name's words, folded as captions are (a school's names are read once)."""
    return tuple(_words(_fold(name)))


def _glued(parts: list[str]) -> set[str]:
    return {"".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}


@dataclass(frozen=True)
class _Caption:
    stream: tuple[str, ...]  # every word in order
    words: frozenset[str]  # each word and camel-case part, and runs of them glued within a chunk
    spaced: tuple[str, ...]  # runs of single letters read as one word
    tags: tuple[str, ...]  # hashtags and mentions, glued and lower case

    @classmethod
    def read(cls, caption: str) -> _Caption:
        stream, words, tags = [], set(), []
        for chunk in _fold(caption).split():
            own = _words(chunk)
            stream += own
            words |= set(own) | _glued(own) | _glued(_camel_parts(chunk))
            if chunk[:1] in "#@" and own:
                tags.append("".join(own))
        return cls(tuple(stream), frozenset(words), tuple(_spaced_runs(stream)), tuple(tags))

    def short_tag(self, name: str) -> bool:
        """Whether a short surname starts or ends a hashtag (worth a look, not a block)."""
        key = "".join(_name_words(name))
        return 1 < len(key) < MIN_TAG_AFFIX and any(_affix(tag, key) for tag in self.tags)

    def has(self, name: str, *, tag_affix: bool = True) -> bool:
        """Whether a name (one or more words) is in the caption, however it was spelled."""
        tokens = _name_words(name)
        key = "".join(tokens)
        if not key:
            return False
        return (any(key + end in self.words for end in ENDINGS)
                or (len(tokens) > 1 and _in_sequence(self.stream, tokens))
                or any(key in run for run in self.spaced)
                or any(_in_tag(tag, key, tag_affix) for tag in self.tags))


def _spaced_runs(stream: list[str]) -> list[str]:
    runs, current = [], []
    for word in [*stream, ""]:
        if len(word) == 1 and word.isalpha():
            current.append(word)
            continue
        if len(current) >= MIN_SPACED_LETTERS:
            runs.append("".join(current))
        current = []
    return runs


def _in_sequence(stream: tuple[str, ...], tokens: tuple[str, ...]) -> bool:
    n = len(tokens)
    for i in range(len(stream) - n + 1):
        window = stream[i:i + n]
        if window[:-1] == tokens[:-1] and any(window[-1] == tokens[-1] + end
                                                    for end in ENDINGS):
            return True
    return False


def _in_tag(tag: str, key: str, affix: bool) -> bool:
    if len(key) < MIN_TAG_AFFIX or not affix:
        return False
    return _affix(tag, key)


def _affix(tag: str, key: str) -> bool:
    return any(tag.startswith(key) or tag.endswith(key + end) for end in ENDINGS)


@lru_cache(maxsize=64)
def _read(caption: str) -> _Caption:
    return _Caption.read(caption)


def check_caption(caption: str, names: Iterable[tuple[str, str]]) -> CaptionCheck:
    """Names are (first, last) of every pupil on the register: surnames block, first names warn."""
    errors: list[str] = []
    warnings: list[str] = []
    text = _read(caption)
    for first, last in names:
        if text.has(f"{first} {last}"):
            errors.append(N_(FULL_NAME, name=first + " " + last))
        elif text.has(last):
            errors.append(N_(SURNAME, name=last))
        elif text.has(first, tag_affix=False):
            warnings.append(N_("contains a first name used by a pupil (%(name)s)", name=first))
        if text.short_tag(last) and not text.has(last):
            warnings.append(N_("a hashtag may contain a pupil's surname (%(name)s)", name=last))
    if POSTCODE.search(caption):
        warnings.append(N_("contains what looks like a postcode"))
    if HOUSE_NUMBER.search(caption):
        warnings.append(N_("contains what looks like a house number and street"))
    return CaptionCheck(tuple(dict.fromkeys(errors)), tuple(dict.fromkeys(warnings)))


def caption_refusal(check: CaptionCheck) -> Message:
    """Why a post may not go out with this caption."""
    return N_(CAPTION_REFUSED, problems=joined(check.errors))


def reread_refusal(text: str) -> str:
    """A caption refusal a post kept in English (before it kept a record) as the message that
    made it; any other text as it is."""
    refusal = reread(text, CAPTION_REFUSED)
    if not isinstance(refusal, Message):
        return text
    parts = [_reread_problem(part) for part in str(refusal.values["problems"]).split("; ")]
    return N_(CAPTION_REFUSED, problems=joined(parts))


def _reread_problem(part: str) -> str:
    surname = reread(part, SURNAME)
    return surname if isinstance(surname, Message) else reread(part, FULL_NAME)
