"""`# noqa` comments, with flake8's semantics so that the CLI and flake8 agree.

A comment applies to the physical line it is on, widened to the lines that
no NEWLINE/NL token separates (multi-line strings, backslash continuations).
Codes match as prefixes: `# noqa: RPL2` silences RPL201..RPL299.
"""

from __future__ import annotations

import io
import re
import tokenize

from repro_lint.text_edits import physical_lines

NOQA = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
_SEPARATOR = re.compile(r"[,\s]+")


class NoqaMap:
    """Which codes are suppressed on which line: None means all codes."""

    def __init__(self, text: str):
        self._by_line: dict[int, frozenset[str] | None] = {}
        if "noqa" in text.lower():
            self._build(text)

    def suppresses(self, line: int, code: str) -> bool:
        if line not in self._by_line:
            return False
        codes = self._by_line[line]
        return codes is None or code.startswith(tuple(codes))

    def _build(self, text: str) -> None:
        # Lines as Python counts them: `str.splitlines` also splits at form feeds.
        lines = [line.rstrip("\r\n") for line in physical_lines(text)]
        comments: dict[int, frozenset[str] | None] = {}
        for number, line in enumerate(lines, start=1):
            if "#" in line:
                match = NOQA.search(line)
                if match:
                    codes = match.group("codes")
                    comments[number] = (
                        frozenset(c.upper() for c in _SEPARATOR.split(codes) if c) if codes else None
                    )
        if not comments:
            return
        for first, last in _line_groups(text, len(lines)):
            found = [comments[n] for n in range(first, last + 1) if n in comments]
            if not found:
                continue
            merged: frozenset[str] | None = frozenset()
            for codes in found:
                merged = None if codes is None or merged is None else merged | codes
            for number in range(first, last + 1):
                self._by_line[number] = merged


def _line_groups(text: str, line_count: int) -> list[tuple[int, int]]:
    """Ranges of physical lines not separated by a NEWLINE or NL token."""
    groups = []
    start = 1
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.NEWLINE, tokenize.NL):
                end = token.end[0]
                groups.append((start, end))
                start = end + 1
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    # Whatever the tokenizer did not reach is taken line by line.
    groups.extend((n, n) for n in range(start, line_count + 1))
    return groups
