"""Every fixture: the findings marked inline, and `--fix` giving the `.fixed` file, once and for all."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixture_harness import (
    Case,
    actual_findings,
    collect_cases,
    copy_case,
    engine_for,
    expected_findings,
    lint,
    parses,
)

CASES = collect_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_findings_match_markers(case: Case) -> None:
    outcomes = lint(case)
    base = case.path
    assert actual_findings(case, outcomes, base) == expected_findings(case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fix_matches_expected_and_is_idempotent(case: Case, tmp_path: Path) -> None:
    copy = copy_case(case, tmp_path)
    engine = engine_for(case, copy)
    files = sorted(copy.rglob("*.py")) if copy.is_dir() else [copy]
    first = engine.run(files, fix=True, write=True)
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
    second = engine_for(case, copy).run(files, fix=True, write=True)
    assert all(o.fixed is None for o in second), "a second --fix changed the code"
    for outcome in second:
        for finding in outcome.findings:
            applies = finding.fix is not None and (
                finding.fix.applicability == "safe" or engine.settings.unsafe_fixes
            )
            assert not applies, f"fixed code still reports a fixable {finding.code} at line {finding.line}"


def test_every_rule_has_positive_and_negative_fixtures() -> None:
    from repro_lint.rules import all_rules

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
