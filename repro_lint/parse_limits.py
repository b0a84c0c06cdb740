"""Inputs that libcst would take far too long to parse, found first with CPython's parser.

libcst's parser is superlinear in nesting depth. Measured on this project's
2-core machine (libcst 1.9): a 2,000-term `1 + 1 + ...` takes 1.9 s, 5,000
terms 44 s; 400 nested lists 0.8 s, 1,000 nested lists 6.7 s; 1,000 chained
`.b()` calls 2.3 s. Real code nests a few dozen levels. A file whose syntax tree
is deeper than `MAX_DEPTH` is reported as not checked instead (within a second:
`ast.parse` is fast, and the depth search skips every node too short to hide
that much nesting).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

MAX_DEPTH = 400  # 0.8 s for the worst shape measured (nested lists); real code stays far below
_NESTED_PARENTHESES = "too many nested parentheses"  # CPython's own limit (200), in every version


@dataclass(frozen=True)
class TooComplex:
    message: str
    line: int
    column: int


def too_complex(text: str) -> TooComplex | None:
    """Why `text` is not to be parsed by libcst, or None. Other syntax errors are libcst's to report."""
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        if error.msg == _NESTED_PARENTHESES:
            return TooComplex(f"syntax error: {error.msg}", error.lineno or 1, error.offset or 1)
        return None
    except (RecursionError, MemoryError):
        return TooComplex("not checked: nesting too deep for Python's own parser", 1, 1)
    except ValueError:  # NUL bytes: libcst reports them
        return None
    deep = _deeper_than(tree, MAX_DEPTH, _line_starts(text))
    if deep is None:
        return None
    return TooComplex(f"not checked: nesting deeper than {MAX_DEPTH} levels is beyond what can be analysed in "
                      "reasonable time", deep.lineno, deep.col_offset + 1)


def _line_starts(text: str) -> list[int]:
    """The UTF-8 byte offset of each line: ast's columns count bytes."""
    starts, offset = [0], 0
    for line in text.encode("utf-8", "surrogatepass").splitlines(keepends=True):
        offset += len(line)
        starts.append(offset)
    return starts


def _deeper_than(tree: ast.AST, limit: int, line_starts: list[int]) -> ast.expr | ast.stmt | None:
    """A node below `limit` levels, or None.

    Each level of nesting takes at least one byte of source (a unary `-`), and a
    node can share its extent with at most one level below it (an expression
    statement and its value): a node whose extent is under half the depth still
    allowed cannot reach the limit, and is not searched.
    """
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        for child in ast.iter_child_nodes(node):
            end_line = getattr(child, "end_lineno", None)
            if end_line is not None:
                if depth + 1 > limit:
                    return child  # type: ignore[return-value]  # only statements and expressions nest this deep
                extent = (line_starts[end_line - 1] + child.end_col_offset  # type: ignore[attr-defined]
                          - line_starts[child.lineno - 1] - child.col_offset)  # type: ignore[attr-defined]
                if depth + 1 + 2 * extent <= limit:
                    continue
            stack.append((child, depth + 1))
    return None
