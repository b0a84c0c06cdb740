"""GitHub Actions workflow commands: one `::warning` annotation per finding."""

from __future__ import annotations

from collections.abc import Sequence

from repro_lint.reporters import ReportContext
from repro_lint.results import Finding

_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    return "".join(annotation(f) + "\n" for f in findings)


def annotation(f: Finding) -> str:
    level = _LEVELS.get(f.severity, "warning")
    message = f"{f.code} {f.message}"
    properties = [f"file={_escape_property(f.path)}"]
    if f.cell is not None:
        # Lines in a notebook cell are not lines of the .ipynb file: annotate the file, name the place.
        message = f"{f.code} cell {f.cell}, line {f.line}: {f.message}"
    else:
        properties += [f"line={f.line}"]
        if f.end_line == f.line:
            # GitHub rejects col/endColumn on annotations that span lines.
            properties += [f"col={f.column}", f"endLine={f.end_line}", f"endColumn={f.end_column}"]
        else:
            properties += [f"endLine={f.end_line}"]
    properties.append(f"title={_escape_property(f.code)}")
    return f"::{level} {','.join(properties)}::{_escape_data(message)}"
