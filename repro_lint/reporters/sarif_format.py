"""SARIF 2.1.0, as GitHub code scanning and other CI dashboards read it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from repro_lint import __version__
from repro_lint.engine import Finding
from repro_lint.reporters import ReportContext

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
HELP_URI = "https://github.com/repro-lint/repro-lint/blob/main/docs/rules.md#{code}"
_LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    rules = sorted(context.rules, key=lambda r: r.code)
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver = {
        "name": "repro-lint",
        "version": __version__,
        "informationUri": "https://github.com/repro-lint/repro-lint",
        "rules": [
            {
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary},
                "fullDescription": {"text": rule.documentation()},
                "helpUri": HELP_URI.format(code=rule.code.lower()),
                "defaultConfiguration": {"level": _LEVELS.get(rule.severity, "warning")},
            }
            for rule in rules
        ],
    }
    results = [_result(f, index) for f in findings]
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}
    return json.dumps(document, indent=2) + "\n"


def _result(finding: Finding, index: dict[str, int]) -> dict[str, object]:
    location = {
        "physicalLocation": {
            "artifactLocation": {"uri": Path(finding.path).as_posix(), "uriBaseId": "%SRCROOT%"},
            "region": {
                "startLine": finding.line,
                "startColumn": finding.column,
                "endLine": finding.end_line,
                "endColumn": finding.end_column,
            },
        }
    }
    result: dict[str, object] = {
        "ruleId": finding.code,
        "level": _LEVELS.get(finding.severity, "warning"),
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": {"reproLint/v1": fingerprint(finding)},
    }
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    return result


def fingerprint(finding: Finding) -> str:
    """Stable across edits elsewhere in the file: the rule, the file and the message, not the line."""
    key = f"{finding.code}\0{Path(finding.path).as_posix()}\0{finding.message}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]
