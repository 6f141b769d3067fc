"""Text hygiene shared by ingest, questions and every renderer: what reaches a terminal or Telegram is
printable. Control characters (NUL, BEL, ESC sequences, C1 codes) and lone surrogates (bytes that were
not UTF-8, smuggled in by the OS as U+DC80–U+DCFF) are removed; line and tab structure is kept."""

from __future__ import annotations

import re

_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff]")  # U+FEFF: stray byte-order marks
_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")  # CR, CRLF, VT, FF, separators: line breaks
_UNPRINTABLE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with control characters and lone surrogates removed; \\n and \\t stay, other line breaks
    (\\r, \\r\\n, vertical tab, form feed, Unicode separators) become \\n."""
    return _CONTROLS.sub("", _BREAKS.sub("\n", text))


def one_line(text: str) -> str:
    """`text` as one line of printable characters (questions, titles): every run of whitespace one space."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def readable_name(name: str) -> str:
    """A file name as text that can be shown and stored: bytes that are not UTF-8 (which Python keeps as
    lone surrogates) and control characters are written as escapes, e.g. `caf\\xe9`."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNPRINTABLE_NAME.sub(lambda m: f"\\x{ord(m.group()):02x}", name)
