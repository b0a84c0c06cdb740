from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from repro_lint.reporters import ReportContext
from repro_lint.results import Finding


def finding_dict(finding: Finding) -> dict[str, object]:
    data = asdict(finding)
    # A file name that is not UTF-8 reaches us with lone surrogates, which strict JSON readers
    # reject: they become U+FFFD, as the text output prints them.
    data["path"] = finding.path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if finding.fix is not None:
        del data["fix"]["edits"]  # text replacements are computed for SARIF only
    return data


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    return json.dumps([finding_dict(f) for f in findings], indent=2) + "\n"
