"""The static side of `verify`: lint the paths, and read what a finding says about its call.

Runs the ordinary linter (no torch needed) and extracts, per finding that names a
catalog op, the literal arguments of the flagged call that a probe can copy.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path

from repro_lint.results import Finding

# Floating dtypes a probe can be run in; `torch.float64` in the user's call selects one.
PROBE_DTYPES = ("float16", "bfloat16", "float32", "float64")
_DTYPE_ALIASES = {"half": "float16", "float": "float32", "double": "float64"}


class LintError(Exception):
    pass


def lint(paths: Sequence[Path], torch_version: str | None = None) -> list[Finding]:
    """The findings `repro-lint check` reports for `paths`, with the project's configuration."""
    from repro_lint.api import Linter
    from repro_lint.config import ConfigError, Overrides

    try:
        run = Linter(Overrides(torch_version=torch_version)).lint_paths(paths)
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
