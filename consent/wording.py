"""What the register says to people, kept so that a page can say it in the reader's language.

consent/ knows neither Flask nor the catalogues: each message is its English template with the
values put into it. `str()` of a message is the English (the command line prints it, word for
word); the web translates the template and fills in the values (gatekeeper/web/wording.py). `N_`
is the keyword babel.cfg extracts templates by.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable


class Message(str):
    """English text that keeps the template it was made from and the values put into it."""

    template: str
    values: dict[str, object]

    def __new__(cls, template: str, values: dict[str, object] | None = None) -> Message:
        values = dict(values or {})
        text = super().__new__(cls, template % values if values else template)
        text.template, text.values = template, values
        return text


def N_(template: str, **values: object) -> Message:
    """A message for the catalogues: the template is translated where it is shown, not here."""
    return Message(template, values)


def message_of(error: BaseException) -> str:
    """The message an error was raised with (a Message keeps its template), else its text."""
    if len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)


def joined(parts: Iterable[str], separator: str = "; ") -> Message:
    """Several messages said one after the other (a row's problems), each translated alone."""
    values = {f"part{i}": part for i, part in enumerate(parts)}
    return Message(separator.join(f"%({key})s" for key in values), values)



def to_record(message: str, most: int) -> str:
    """A message as a record keeps it: a Message as its template and values (JSON), so that a
    page can say it in the reader's language (`from_record`); other text, or a message longer
    than `most` characters that way, as its English, cut to `most`."""
    if isinstance(message, Message):
        try:
            kept = json.dumps(_kept(message), ensure_ascii=False)
        except (TypeError, ValueError):
            kept = ""
        if kept and len(kept) <= most:
            return kept
    return str(message)[:most]


def _kept(message: Message) -> dict:
    """A message's template and values, a message among its values kept the same way."""
    return {"template": message.template,
            "values": {key: _kept(value) if isinstance(value, Message) else value
                       for key, value in message.values.items()}}


def _message(kept: dict) -> Message:
    return Message(kept["template"], {key: _message(value) if isinstance(value, dict) else value
                                      for key, value in kept["values"].items()})


def from_record(text: str | None) -> str | None:
    """What `to_record` kept: the Message again, or the text as it is (English written before)."""
    if not text or not text.startswith("{"):
        return text
    try:
        return _message(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError):
        return text


# A placeholder of a template after re.escape: %\(name\)s or %\(name\)d.
ESCAPED_PLACEHOLDER = re.compile(r"%\\\((\w+)\\\)([sd])")


def reread(text: str, template: str) -> str:
    """Text a record keeps in English, as the message `template` made it (so that a page can say
    it in the reader's language); the text as it is when the template did not make it."""
    kinds: dict[str, str] = {}

    def group(placeholder: re.Match) -> str:
        name, kind = placeholder.groups()
        if name in kinds:
            return f"(?P={name})"
        kinds[name] = kind
        return f"(?P<{name}>-?[0-9]+)" if kind == "d" else f"(?P<{name}>.*?)"

    pattern = ESCAPED_PLACEHOLDER.sub(group, re.escape(template))
    found = re.fullmatch(pattern, text or "", re.DOTALL)
    if found is None:
        return text
    return Message(template, {name: int(value) if kinds[name] == "d" else value
                              for name, value in found.groupdict().items()})
