"""Output formats. Each reporter turns sorted findings into text; none of them lint."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repro_lint.results import Finding
    from repro_lint.rule import Rule

FORMATS = ("text", "json", "sarif", "github")


@dataclass(frozen=True)
class ReportContext:
    rules: Sequence[type[Rule]]
    unsafe_fixes: bool
    statistics: bool = False
    checked: int = 0  # files linted to the end
    failed: int = 0  # files and paths that could not be linted
    concise: bool = False  # text: one line per finding, without the `help:` line


Reporter = Callable[["Sequence[Finding]", ReportContext], str]


def reporter(name: str) -> Reporter:
    module = importlib.import_module(f"{__name__}.{name}_format")
    return module.render
