"""`repro-lint --add-noqa`: a `# noqa: CODE` comment for every current finding.

A comment goes where `repro_lint.suppression` reads it: on the last physical line
of the finding's line group (the lines no NEWLINE/NL token separates), which is
after any multi-line string or bracket the statement opens, so it never lands
inside a string. A group that already has a `# noqa: X` comment gets the new
codes merged into it; the rest of that comment stays as it was.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from repro_lint.suppression import NOQA, _line_groups
from repro_lint.text_edits import physical_lines

_CODE_SEPARATOR = ", "


@dataclass(frozen=True)
class LineEdit:
    """Line `line` (1-based) becomes `text` (without its line ending); `added` codes are new on it."""

    line: int
    old: str
    text: str
    added: tuple[str, ...]


def noqa_edits(text: str, wanted: Mapping[int, Iterable[str]]) -> list[LineEdit]:
    """The line edits that suppress the codes in `wanted` (physical line -> codes) in `text`.

    Codes the line already suppresses (a bare `# noqa`, or a `# noqa: RPL2` prefix) are left out.
    """
    lines = physical_lines(text)
    if not lines:
        return []
    groups = _line_groups(text, len(lines))
    group_of = {n: group for group in groups for n in range(group[0], group[1] + 1)}
    comments = _noqa_comments(text)
    per_group: dict[tuple[int, int], set[str]] = {}
    for line, codes in wanted.items():
        group = group_of.get(line, (line, line))
        per_group.setdefault(group, set()).update(codes)

    edits = []
    for (first, last), codes in sorted(per_group.items()):
        in_group = [n for n in range(first, last + 1) if n in comments]
        target = in_group[-1] if in_group else min(last, len(lines))
        body, ending = _split_ending(lines[target - 1])
        existing = comments.get(target)
        if existing is not None:
            codes_start, codes_end, present = existing
            if present is None:
                continue  # a bare noqa comment already suppresses every code
            new = sorted(c for c in codes if not c.startswith(tuple(present)))
            if not new:
                continue
            # Only the code list grows: the comment's spelling and whatever follows the codes stay.
            written = body[codes_start:codes_end]
            kept = written.rstrip(", \t")
            new_body = (body[:codes_start] + kept + _CODE_SEPARATOR + _CODE_SEPARATOR.join(new)
                        + written[len(kept):] + body[codes_end:])
        else:
            new = sorted(codes)
            separator = "" if not body.strip() else "  "
            new_body = body.rstrip(" \t") + separator + "# noqa: " + _CODE_SEPARATOR.join(new)
        edits.append(LineEdit(target, body, new_body, tuple(new)))
    return edits


def apply_line_edits(text: str, edits: Iterable[LineEdit]) -> str:
    lines = physical_lines(text)
    for edit in edits:
        _, ending = _split_ending(lines[edit.line - 1])
        lines[edit.line - 1] = edit.text + ending
    return "".join(lines)


def _split_ending(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body):]


def _noqa_comments(text: str) -> dict[int, tuple[int, int, frozenset[str] | None]]:
    """Per line, the `# noqa` inside a comment token: the span of its codes in the line, and the codes.

    A bare `# noqa` has no codes (None: it suppresses all).
    """
    found: dict[int, tuple[int, int, frozenset[str] | None]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.COMMENT:
                continue
            match = NOQA.search(token.string)
            if not match:
                continue
            column = token.start[1]
            codes = match.group("codes")
            if codes is None:
                found[token.start[0]] = (column + match.end(), column + match.end(), None)
                continue
            present = frozenset(c.upper() for c in codes.replace(",", " ").split())
            found[token.start[0]] = (column + match.start("codes"), column + match.end("codes"), present)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return found
