"""The rules' documentation as Markdown: `docs/rules.md`, SARIF's `help.markdown`, `repro-lint rule`.

One rendering from the rule classes' docstrings, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from repro_lint.rule import DOC_SECTIONS, Rule, code_blocks

_CODE_SECTIONS = ("Example", "Use instead")


def rule_markdown(rule: type[Rule]) -> str:
    """One rule: heading, summary, fix safety and its docstring sections."""
    fix = rule.fix_applicability or "none"
    parts = [f"## {rule.code} `{rule.name}`", "", f"{rule.summary}. Fix: {fix}.", ""]
    for title in DOC_SECTIONS:
        section = rule.doc_section(title)
        if not section:
            continue
        parts.append(f"### {title}")
        parts.append("")
        if title in _CODE_SECTIONS:
            parts.extend(["```python", code_blocks(section).rstrip("\n"), "```"])
        else:
            paragraphs = [" ".join(line.strip() for line in block.splitlines())
                          for block in section.split("\n\n") if block.strip()]
            parts.append("\n\n".join(paragraphs))
        parts.append("")
    return "\n".join(parts)


def rules_markdown(rules: Sequence[type[Rule]]) -> str:
    """The whole of `docs/rules.md`: an index, then each rule under an anchor named by its code."""
    lines = [
        "# Rules",
        "",
        "Generated from the rules' docstrings by `python -m repro_lint.rule_docs`; "
        "`tests/test_rule_docs.py` checks that it is current.",
        "",
        "| code | name | fix | summary |",
        "| --- | --- | --- | --- |",
    ]
    for rule in rules:
        fix = rule.fix_applicability or "-"
        lines.append(f"| [{rule.code}](#{rule.code.lower()}) | `{rule.name}` | {fix} | {rule.summary} |")
    lines.append("")
    for rule in rules:
        lines.extend([f'<a id="{rule.code.lower()}"></a>', "", rule_markdown(rule)])
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    from repro_lint.rules import all_rules

    print(rules_markdown(all_rules()), end="")
