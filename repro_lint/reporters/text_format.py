from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from repro_lint.reporters import ReportContext
from repro_lint.results import Finding


def render(findings: Sequence[Finding], context: ReportContext) -> str:
    lines = []
    if context.statistics:  # as ruff does: the counts instead of the findings
        lines.extend(statistics(findings, context))
    else:
        for f in findings:
            marker = " [*]" if f.fixable(context.unsafe_fixes) else ""
            cell = f"cell {f.cell}:" if f.cell is not None else ""
            if context.concise:
                lines.append(f"{f.path}:{cell}{f.line}:{f.column}: {f.code}{marker} {f.message}")
                continue
            headline, details = split_message(f.message)
            lines.append(f"{f.path}:{cell}{f.line}:{f.column}: {f.code}{marker} {headline}")
            lines.extend(f"  {line}" for line in details)
            if f.fix is not None:
                lines.append(f"  help: {help_text(f, context.unsafe_fixes)}")
    closing = summary(findings, context)
    if closing:
        lines.append(closing)
    return "".join(line + "\n" for line in lines)


def split_message(message: str) -> tuple[str, list[str]]:
    """The message's first sentence, for the finding's own line, and the rest (the catalog's
    workaround on a line of its own), for the indented lines under it."""
    message, _, workaround = message.partition(" Workaround: ")
    in_code = False
    for index, char in enumerate(message):
        if char == "`":
            in_code = not in_code
        elif char == "." and not in_code and message[index + 1:index + 2] == " ":
            headline, rest = message[:index + 1], message[index + 2:]
            break
    else:
        headline, rest = message, ""
    details = [rest] if rest else []
    return headline, details + ([f"workaround: {workaround}"] if workaround else [])


def help_text(finding: Finding, unsafe_fixes: bool) -> str:
    """What the finding's fix does, and what applies it when `--fix` alone does not."""
    assert finding.fix is not None
    if finding.fixable(unsafe_fixes):
        return finding.fix.message
    return f"{finding.fix.message} (unsafe: needs --unsafe-fixes)"


def statistics(findings: Sequence[Finding], context: ReportContext) -> list[str]:
    counts = Counter(f.code for f in findings)
    names = {f.code: f.name for f in findings}
    fixable_codes = {f.code for f in findings if f.fixable(context.unsafe_fixes)}
    width = len(str(max(counts.values())))
    return [
        f"{count:>{width}}  {code}  {'[*]' if code in fixable_codes else '[ ]'}  {names[code]}"
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def summary(findings: Sequence[Finding], context: ReportContext) -> str:
    """The closing line; empty when nothing was checked (the command line says so on stderr)."""
    unsafe_fixes = context.unsafe_fixes
    if not findings:
        if context.failed:
            if not context.checked:
                return ""
            checked = f"{context.checked} file{'s' if context.checked != 1 else ''}"
            return f"No findings in the {checked} checked; {context.failed} could not be checked (see above)."
        return "All checks passed." if context.checked else ""
    noun = "finding" if len(findings) == 1 else "findings"
    safe = sum(1 for f in findings if f.fixable(unsafe_fixes=False))
    unsafe = sum(1 for f in findings if f.fixable(unsafe_fixes=True)) - safe
    if unsafe_fixes:
        return f"Found {len(findings)} {noun} ({safe + unsafe} fixable with --fix --unsafe-fixes)."
    hidden = f"; {unsafe} more with --unsafe-fixes" if unsafe else ""
    return f"Found {len(findings)} {noun} ({safe} fixable with --fix{hidden})."
