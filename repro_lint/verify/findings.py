"""The static side of `verify`: lint the paths, and read what a finding says about its code.

Runs the ordinary linter (no torch needed) with the settings `check` would use, and
extracts, per finding that names a catalog op, the literal arguments of the flagged
call that a probe can copy, and, for `--run`, the function a line belongs to (a
divergence is matched to the nearest finding before it in the same function).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from repro_lint.results import Finding

# Floating dtypes a probe can be run in; `torch.float64` in the user's call selects one.
PROBE_DTYPES = ("float16", "bfloat16", "float32", "float64")
_DTYPE_ALIASES = {"half": "float16", "float": "float32", "double": "float64"}


class LintError(Exception):
    pass


@dataclass(frozen=True)
class LintOptions:
    """The `check` options verify takes: they decide which findings there are to probe or to link."""

    torch_version: str | None = None
    select: list[str] | None = None
    ignore: list[str] | None = None
    extend_select: list[str] | None = None
    config: Path | None = None
    strict: bool | None = None
    exclude: list[str] = field(default_factory=list)

    @property
    def narrows_rules(self) -> bool:
        """Whether the command line chose the rules (then a missing finding may be the choice, not a gap)."""
        return bool(self.select or self.ignore)


def lint(paths: Sequence[Path], options: LintOptions | None = None) -> list[Finding]:
    """The findings `repro-lint check` reports for `paths`, with the project's configuration."""
    from repro_lint.api import Linter
    from repro_lint.config import ConfigError, Overrides

    options = options or LintOptions()
    overrides = Overrides(select=options.select, ignore=options.ignore, extend_select=options.extend_select,
                          exclude=options.exclude, torch_version=options.torch_version, strict=options.strict)
    try:
        run = Linter(overrides, options.config).lint_paths(paths)
    except ConfigError as error:
        raise LintError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - a linter bug must not end verify with a traceback
        raise LintError(f"internal error while linting: {type(error).__name__}: {error}") from None
    if run.errors:
        raise LintError(run.errors[0])
    return run.findings


def call_literals(path: Path, line: int, column: int) -> dict[str, object]:
    """Literal keyword arguments of the call at (line, 1-based column), and its `dtype=torch.X`.

    Returns {} when the file cannot be parsed or no call starts there.
    """
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return {}
    lines = source.splitlines()
    if not 1 <= line <= len(lines):
        return {}
    # ast columns count UTF-8 bytes; finding columns count characters.
    offset = len(lines[line - 1][: column - 1].encode("utf-8"))
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and node.lineno == line and node.col_offset == offset]
    if not calls:
        return {}
    call = min(calls, key=lambda node: (node.end_lineno or 0, node.end_col_offset or 0))
    literals: dict[str, object] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        if keyword.arg == "dtype":
            dtype = _dtype_name(keyword.value)
            if dtype is not None:
                literals["dtype"] = dtype
            continue
        try:
            literals[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            continue
    return literals


def _dtype_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        name = _DTYPE_ALIASES.get(node.attr, node.attr)
        return name if name in PROBE_DTYPES else None
    return None


@lru_cache(maxsize=64)
def _function_spans(path: str) -> tuple[tuple[int, int], ...]:
    """(first line, last line) of every function in the file, innermost last among those that nest."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
        return ()
    spans = [(node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    return tuple(sorted(spans, key=lambda span: (span[0], -span[1])))


def enclosing_function(path: str, line: int) -> tuple[int, int] | None:
    """The span of the innermost function around `line`, or None at module level (or when unreadable)."""
    inside = [span for span in _function_spans(path) if span[0] <= line <= span[1]]
    return min(inside, key=lambda span: span[1] - span[0]) if inside else None
