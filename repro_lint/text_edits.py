"""A fix as text: which lines of the file it replaces and with what.

Reports that carry fixes (SARIF) need them as text replacements, while the
engine applies fixes as CST edits. Applying one fix alone to the module and
comparing the code line by line gives the replacements.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import libcst as cst

from repro_lint.fixes import apply_fixes
from repro_lint.rule import Fix

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass(frozen=True)
class TextEdit:
    """Replace lines `start_line` up to, not including, `end_line` (1-based) by `text`.

    `start_line == end_line` inserts `text` before `start_line`.
    """

    start_line: int
    end_line: int
    text: str


def fix_text_edits(module: cst.Module, fix: Fix) -> tuple[TextEdit, ...]:
    fixed, applied = apply_fixes(module, [fix])
    if not applied:
        return ()
    old = physical_lines(module.code)
    new = physical_lines(fixed.code)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return tuple(
        TextEdit(old_start + 1, old_end + 1, "".join(new[new_start:new_end]))
        for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes()
        if tag != "equal"
    )


def physical_lines(text: str) -> list[str]:
    """Lines with their ends, split where Python's tokenizer splits (not at form feeds or U+2028)."""
    return _LINE.findall(text)
