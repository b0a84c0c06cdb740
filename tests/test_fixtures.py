"""Every fixture: the findings marked inline, and `--fix` giving the `.fixed` file, once and for all."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_harness import (
    Case,
    collect_cases,
    copy_case,
    expected_findings,
    findings_by_place,
    lint,
    markers,
    parses,
)

from repro_lint.results import Applicability
from repro_lint.rules import all_rules

CASES = collect_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_findings_match_markers(case: Case) -> None:
    found = findings_by_place(lint(case), case.path)
    assert set(found) == expected_findings(case)
    for marker in markers(case):
        assert any(marker.describes(f) for f in found[marker.place]), (
            f"{marker.file}:{marker.line}: no {marker.code} at column {marker.column} saying {marker.fragment!r}; "
            f"got {[(f.column, f.message) for f in found[marker.place]]}"
        )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fix_matches_expected_and_is_idempotent(case: Case, tmp_path: Path) -> None:
    copy = copy_case(case, tmp_path)
    files = sorted(copy.rglob("*.py")) if copy.is_dir() else [copy]
    first = lint(case, copy, fix=True, write=True).outcomes
    fixed_any = any(o.fixed is not None for o in first)
    expected = case.fixed_path
    if not fixed_any:
        assert not expected.exists(), f"{expected.name} exists but no fix applied"
        return
    assert expected.exists(), f"fixes apply to {case.id}: add {expected.name} with the expected result"
    for outcome in first:
        assert outcome.error is None, outcome.error
    if case.is_project:
        for file in files:
            relative = file.relative_to(copy)
            want = expected / relative
            original = case.path / relative
            text = file.read_text(encoding="utf-8")
            if want.exists():
                assert text == want.read_text(encoding="utf-8"), f"{relative} differs from {want}"
            else:
                assert text == original.read_text(encoding="utf-8"), f"{relative} changed but has no expected file"
    else:
        assert copy.read_text(encoding="utf-8") == expected.read_text(encoding="utf-8")

    for file in files:
        assert parses(file.read_text(encoding="utf-8")), f"{file} does not parse after fixing"
    # Fixing twice changes nothing, and nothing fixable is reported again.
    second = lint(case, copy, fix=True, write=True).outcomes
    assert all(o.fixed is None for o in second), "a second --fix changed the code"
    unsafe_fixes = bool(case.options.get("unsafe-fixes", False))
    for outcome in second:
        for finding in outcome.findings:
            assert not finding.fixable(unsafe_fixes), (
                f"fixed code still reports a fixable {finding.code} at line {finding.line}"
            )


def test_each_rule_declares_the_best_fix_its_fixtures_get() -> None:
    """`fix_applicability` is what the rule's fixes really are: the best grade any fixture of it gets,
    and no fix at all for a rule that declares none."""
    grades: dict[str, set[Applicability]] = {}
    for case in CASES:
        for outcome in lint(case).outcomes:
            for finding in outcome.findings:
                if finding.fix is not None:
                    grades.setdefault(finding.code, set()).add(finding.fix.applicability)
    for rule in all_rules():
        seen = grades.get(rule.code, set())
        best = Applicability.SAFE if Applicability.SAFE in seen else (Applicability.UNSAFE if seen else None)
        assert best == rule.fix_applicability, (
            f"{rule.code} declares fix_applicability={rule.fix_applicability}, its fixtures get {sorted(seen)}"
        )


def test_every_rule_has_positive_and_negative_fixtures() -> None:
    by_code: dict[str, list[Case]] = {}
    for case in CASES:
        by_code.setdefault(case.code, []).append(case)
    for rule in all_rules():
        if rule.code == "RPL001":
            continue
        cases = by_code.get(rule.code, [])
        marked = [c for c in cases if any(code == rule.code for _, _, code in expected_findings(c))]
        assert marked, f"{rule.code} has no fixture with an expected finding"
        assert any(
            c.path.name.startswith("negative") for c in cases
        ), f"{rule.code} has no negative fixture (a file named negative*.py)"
