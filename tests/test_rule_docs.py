"""Every rule documents itself, and its documented examples behave as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_lint.api import Linter
from repro_lint.config import Overrides
from repro_lint.rule import DOC_SECTIONS, code_blocks
from repro_lint.rules import all_rules

RULES = all_rules()
# Version-dependent rules must trigger under one of these and stay quiet under all.
VERSIONS = ("2.13", "1.13")


def codes_found(rule, source: str, folder: Path) -> set[str]:
    found = set()
    for version in VERSIONS:
        path = folder / "example.py"
        path.write_text(source, encoding="utf-8")
        run = Linter(Overrides(select=[rule.code], torch_version=version)).lint_files([path])
        for outcome in run.outcomes:
            assert outcome.error is None, outcome.error
            found |= {f.code for f in outcome.findings}
    return found


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_docstring_has_every_section(rule) -> None:
    for section in DOC_SECTIONS:
        assert rule.doc_section(section).strip(), f"{rule.code} docstring lacks '{section}:'"
    assert rule.summary and not rule.summary.endswith(".")


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_example_triggers_and_use_instead_does_not(rule, tmp_path: Path) -> None:
    example = code_blocks(rule.doc_section("Example"))
    use_instead = code_blocks(rule.doc_section("Use instead"))
    assert rule.code in codes_found(rule, example, tmp_path), f"{rule.code}: its Example does not trigger it"
    assert rule.code not in codes_found(rule, use_instead, tmp_path), f"{rule.code}: its Use instead triggers it"


def test_codes_and_names_are_unique() -> None:
    assert len({r.code for r in RULES}) == len(RULES)
    assert len({r.name for r in RULES}) == len(RULES)


def test_docs_rules_md_is_current_and_every_rule_has_its_anchor() -> None:
    from conftest import REPO

    from repro_lint.rule_docs import rule_markdown, rules_markdown

    text = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert text == rules_markdown(RULES), "regenerate: python -m repro_lint.rule_docs > docs/rules.md"
    for rule in RULES:
        assert f'<a id="{rule.code.lower()}"></a>\n\n{rule_markdown(rule)}' in text
