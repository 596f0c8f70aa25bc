"""Text from a record is data, never markup or a command: the one sanitiser for every place a
record's string reaches a reader.

A record can come from anywhere (a shard, a colleague, a hand edit), so any of its strings may hold
newlines, markdown structure (``## ``, ``|``, backticks), HTML (``<script>``, ``<!-- verdict:end -->``),
ANSI escape sequences or other control characters. Every writer of a heading, a table cell, the
README block, a shell block, the HTML page or a terminal line passes such a string through one of the
functions below. Standard library only.

* ``one_line``      — plain text on one line: control characters and ANSI sequences gone, whitespace
  collapsed, bounded length. The base of the others; also what a terminal gets (``terminal``).
* ``md``            — inline markdown (headings, prose, table cells): ``one_line`` with markdown
  punctuation backslash-escaped and ``<``, ``>``, ``&`` as entities, so nothing opens a heading,
  a table column, code, a link, emphasis, an HTML tag or a comment (no ``<!--`` marker survives).
* ``html_text``     — text for an HTML element or attribute: ``one_line`` then ``html.escape``.
* ``shell_comment`` — text after ``#`` on one line of a shell block: ``one_line`` (no newline can
  start a command line).
"""

from __future__ import annotations

import html
import re
import unicodedata

MAX_CHARS = 300  # a reason or a label longer than this is cut: it is read in a table cell
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}|#~!+])")


def one_line(value: object, limit: int = MAX_CHARS) -> str:
    """``value`` as plain text on one line: ANSI escape sequences and control or format characters
    (newlines, tabs, NUL, bidi overrides, line and paragraph separators) become spaces, runs of
    whitespace one space, and text beyond ``limit`` characters is cut with an ellipsis."""
    text = _ANSI.sub(" ", str(value))
    text = "".join(" " if _is_control(ch) else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co")


def terminal(value: object, limit: int = MAX_CHARS) -> str:
    """Text for a terminal line: one line, no escape sequence that could move the cursor or recolour."""
    return one_line(value, limit)


def md(value: object, limit: int = MAX_CHARS) -> str:
    """Inline markdown that renders as the literal text: safe in a heading, prose or a table cell."""
    text = html.escape(one_line(value, limit), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def html_text(value: object, limit: int = MAX_CHARS) -> str:
    """Text for an HTML element or a quoted attribute."""
    return html.escape(one_line(value, limit), quote=True)


def shell_comment(value: object, limit: int = MAX_CHARS) -> str:
    """Text for the rest of a ``# ...`` line in a shell block: nothing after it can become a command."""
    return one_line(value, limit)
