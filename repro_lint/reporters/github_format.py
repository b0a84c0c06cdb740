"""GitHub Actions workflow commands: one `::warning` annotation per finding."""

from __future__ import annotations

from typing import Sequence

from repro_lint.engine import Finding
from repro_lint.reporters import ReportContext

_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    lines = []
    for f in findings:
        properties = [f"file={_escape_property(f.path)}", f"line={f.line}"]
        if f.end_line == f.line:
            # GitHub rejects col/endColumn on annotations that span lines.
            properties.append(f"col={f.column}")
        properties.append(f"endLine={f.end_line}")
        if f.end_line == f.line:
            properties.append(f"endColumn={f.end_column}")
        properties.append(f"title={_escape_property(f.code)}")
        level = _LEVELS.get(f.severity, "warning")
        lines.append(f"::{level} {','.join(properties)}::{_escape_data(f'{f.code} {f.message}')}")
    return "".join(line + "\n" for line in lines)
