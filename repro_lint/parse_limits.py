"""Inputs that libcst would take far too long to parse, found first with CPython's parser.

libcst's parser is superlinear in expression depth. Measured on this project's
2-core machine (libcst 1.9): a 2,000-term `1 + 1 + ...` takes 1.9 s, 5,000 terms
44 s; 400 nested lists 0.8 s, 1,000 nested lists 6.7 s; 1,000 chained `.b()`
calls 2.3 s. Statement nesting is not the problem: 1,000 `elif`s parse in 0.5 s,
and indentation stops at 100 levels. Real code nests expressions a few dozen levels.

A file whose expressions nest deeper than `MAX_DEPTH` is reported as not checked
instead, within a second. Only files that can hold such an expression are parsed
with `ast` to find out: one with a very long line, or with a long run of lines
that continue an expression across line breaks (`+` or `.` at a line's end or
start). Brackets alone cannot: CPython refuses more than 200 nested ones.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

MAX_DEPTH = 400  # 0.8 s for the worst shape measured (nested lists); real code stays far below
_LONG_LINE = MAX_DEPTH  # characters: a deep expression on one line needs at least one per level
_LONG_RUN = 200  # consecutive continuation lines: each holds at least one level
_CONTINUING = frozenset("+-*/%&|^@.\\")
_NESTED_PARENTHESES = "too many nested parentheses"  # CPython's own limit (200), in every version


@dataclass(frozen=True)
class TooComplex:
    message: str
    line: int
    column: int


def too_complex(text: str) -> TooComplex | None:
    """Why `text` is not to be parsed by libcst, or None. Other syntax errors are libcst's to report."""
    if not _may_nest_deeply(text):
        return None
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
    return TooComplex(f"not checked: expressions nested deeper than {MAX_DEPTH} levels are beyond what can be "
                      "analysed in reasonable time", deep.lineno, deep.col_offset + 1)


def _may_nest_deeply(text: str) -> bool:
    run = 0
    for line in text.splitlines():
        if len(line) > _LONG_LINE:
            return True
        stripped = line.strip()
        if stripped and (stripped[-1] in _CONTINUING or stripped[0] in _CONTINUING):
            run += 1
            if run >= _LONG_RUN:
                return True
        else:
            run = 0
    return False


def _line_starts(text: str) -> list[int]:
    """The UTF-8 byte offset of each line: ast's columns count bytes."""
    starts, offset = [0], 0
    for line in text.encode("utf-8", "surrogatepass").splitlines(keepends=True):
        offset += len(line)
        starts.append(offset)
    return starts


def _deeper_than(tree: ast.AST, limit: int, line_starts: list[int]) -> ast.expr | None:
    """An expression nested below `limit` levels of expressions, or None.

    Each level takes at least one byte of source (a unary `-`), and an expression can
    share its extent with at most one level below it: an expression whose extent is
    under half the depth still allowed cannot reach the limit, and is not searched.
    A statement (inside a lambda's body there are none) starts again from zero.
    """
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.expr):
                stack.append((child, 0 if isinstance(child, ast.stmt) else depth))
                continue
            if depth + 1 > limit:
                return child
            extent = (line_starts[child.end_lineno - 1] + child.end_col_offset  # type: ignore[operator]
                      - line_starts[child.lineno - 1] - child.col_offset)
            if depth + 1 + 2 * extent > limit:
                stack.append((child, depth + 1))
    return None
