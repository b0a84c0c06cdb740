"""SARIF 2.1.0, as GitHub code scanning and other CI dashboards read it.

Paths are relative to the working directory (`%SRCROOT%`), so that a run in
the repository root gives the repository-relative URIs code scanning needs.
A result's fingerprint leaves out its line, so that edits elsewhere in the
file do not turn it into a new alert.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from repro_lint import __version__
from repro_lint.reporters import ReportContext
from repro_lint.results import Finding
from repro_lint.rule_docs import rule_markdown

if TYPE_CHECKING:
    from repro_lint.rule import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/repro-lint/repro-lint"
HELP_URI = INFORMATION_URI + "/blob/main/docs/rules.md#{code}"
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "reproLint/v1"
_LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    rules = sorted(context.rules, key=lambda r: r.code)
    index = {rule.code: i for i, rule in enumerate(rules)}
    driver = {
        "name": "repro-lint",
        "version": __version__,
        "informationUri": INFORMATION_URI,
        "rules": [_rule(rule) for rule in rules],
    }
    run = {
        "tool": {"driver": driver},
        "originalUriBaseIds": {SOURCE_ROOT: {"uri": Path.cwd().as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",  # libcst counts columns in code points
        "results": [_result(f, index, key) for f, key in zip(findings, fingerprints(findings))],
    }
    document = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


def _rule(rule: type[Rule]) -> dict[str, object]:
    documentation = rule.documentation()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": documentation or rule.summary},
        "help": {"text": documentation or rule.summary, "markdown": rule_markdown(rule)},
        "helpUri": HELP_URI.format(code=rule.code.lower()),
        "defaultConfiguration": {"level": _LEVELS.get(rule.severity, "warning")},
        "properties": {"fixable": rule.fix_applicability or "no"},
    }


def _result(finding: Finding, index: dict[str, int], fingerprint: str) -> dict[str, object]:
    artifact = artifact_location(finding.path)
    location = {
        "physicalLocation": {
            "artifactLocation": artifact,
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
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
    }
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    if finding.cell is not None:
        # The region counts lines within the notebook cell, not lines of the .ipynb file.
        result["properties"] = {"notebookCell": finding.cell}
    elif finding.fix is not None and finding.fix.edits:
        result["fixes"] = [_fix(finding, artifact)]
    return result


def _fix(finding: Finding, artifact: dict[str, str]) -> dict[str, object]:
    assert finding.fix is not None
    replacements = [
        {
            # Whole lines: from the start of `start_line` to the start of `end_line`.
            "deletedRegion": {"startLine": edit.start_line, "startColumn": 1, "endLine": edit.end_line, "endColumn": 1},
            "insertedContent": {"text": edit.text},
        }
        for edit in finding.fix.edits
    ]
    return {
        "description": {"text": finding.fix.message},
        "artifactChanges": [{"artifactLocation": artifact, "replacements": replacements}],
        "properties": {"applicability": finding.fix.applicability},
    }


def artifact_location(path: str) -> dict[str, str]:
    """A relative path under `%SRCROOT%`, or an absolute `file:` URI for paths outside it."""
    location = Path(path)
    if location.is_absolute():
        return {"uri": location.as_uri()}
    return {"uri": quote(location.as_posix()), "uriBaseId": SOURCE_ROOT}


def fingerprints(findings: Sequence[Finding]) -> list[str]:
    """One per finding: its rule, file and message, and which occurrence of those it is.

    The occurrence number tells apart identical findings in one file without
    depending on line numbers, which any edit above them changes.
    """
    seen: Counter[tuple[str, str, str]] = Counter()
    keys = []
    for finding in findings:
        identity = (finding.code, Path(finding.path).as_posix(), finding.message)
        seen[identity] += 1
        text = "\0".join((*identity, str(seen[identity])))
        keys.append(hashlib.sha256(text.encode()).hexdigest()[:32])
    return keys
