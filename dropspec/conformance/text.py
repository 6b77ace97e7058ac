"""Text from a target or a report, made safe to print and small enough to keep.

A target's name, the text of what it raised, its output and every string of a report given to
``dropspec merge`` are data, not terminal commands: :func:`shown` renders every control
character (ANSI escape sequences, carriage returns, bells, C1 controls, bidirectional
overrides) visibly, as Python's ``repr`` would (``\\x1b``), so no such string can clear the
screen, move the cursor or draw over dropspec's own lines. :func:`clipped` cuts a huge message
(a crashed target's 50 MB line) to its head and tail, with a note of how much was cut.

Every string printed by the CLI, the progress lines and the pytest plugin passes through
:func:`shown`; every message stored in a report passes through :func:`clipped`. Standard
library only.
"""

from __future__ import annotations

import unicodedata

#: The most characters of one message a report keeps (the head and the tail of a longer one).
MESSAGE_LIMIT = 20_000
#: The most characters of one line the terminal shows.
LINE_LIMIT = 2_000

_VISIBLE = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(ch: str) -> str:
    if ch in _VISIBLE:
        return _VISIBLE[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(ch: str) -> bool:
    # Cc: C0 and C1 controls and DEL; Cf: format characters (bidi overrides, zero width);
    # Zl/Zp: line and paragraph separators, which some terminals break lines at.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def shown(text: object, *, lines: bool = False) -> str:
    """``text`` with every control character written visibly (``\\x1b``, ``\\r``, ...).

    With ``lines``, newlines (and tabs) are kept, so a multi-line message still prints as
    lines; without, a newline is escaped too, so a name stays on its one line. Text that is
    already safe comes back unchanged (so applying it twice changes nothing).
    """
    s = str(text)
    keep = "\n\t" if lines else ""
    if s.isprintable() and not keep:
        return s
    return "".join(_escape(ch) if ch not in keep and _unsafe(ch) else ch for ch in s)


def cut_note(n: int) -> str:
    return f"[... {n:,} characters cut ...]"


def clipped(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` if it has at most ``limit`` characters; else its head and tail around a note
    saying how many characters were cut."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n{cut_note(len(text) - head - tail)}\n{text[-tail:]}"


def shown_message(text: object, indent: str = "") -> list[str]:
    """A multi-line message as terminal lines: escaped (:func:`shown`), each line cut at
    :data:`LINE_LIMIT` characters with a note, and ``indent`` in front."""
    out = []
    for line in shown(text, lines=True).splitlines():
        if len(line) > LINE_LIMIT:
            line = f"{line[:LINE_LIMIT]} {cut_note(len(line) - LINE_LIMIT)}"
        out.append(indent + line)
    return out
