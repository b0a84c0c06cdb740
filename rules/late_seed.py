from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import FileFacts
from repro_lint.program import DrawBeforeSeed, Program, program_for
from repro_lint.rng import RNG_LABEL
from repro_lint.rule import SAFE, TEST_CODE, Fix, Insert, Rule, RuleContext, Violation, strict_note
from repro_lint.traversal import descendants


class LateSeed(Rule):
    """
    What it does:
        Flags, in one scope (a function body, or the module's entry code), a draw from a
        global RNG that comes before that scope's first seed of the same RNG, as in
        `model = Net(); torch.manual_seed(0)`. The draw can be direct or through a
        function that draws. Reported at the draw.

    Why it matters:
        The seed only fixes what comes after it. Everything drawn before it, typically
        the initial weights or the data split, is still different in every run, while the
        code looks seeded.

    Example:
        import torch

        weights = torch.randn(3, 3)
        torch.manual_seed(0)

    Use instead:
        import torch

        torch.manual_seed(0)
        weights = torch.randn(3, 3)

    Fix safety:
        Safe: a copy of the seed statement goes just before the first draw, and the seed
        stays where it was, so everything after it computes exactly what it did before and
        the draws before it become fixed. Offered when both are statements of the same
        block and nothing in between assigns a name the seed uses.
    """

    code = "RPL105"
    name = "late-seed"
    summary = "An RNG is drawn from before the scope seeds it"
    fix_applicability = SAFE
    markers = ("seed",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reason = TEST_CODE if ctx.is_test_code else None
        if not ctx.reports(reason):
            return
        program = program_for(ctx.facts, ctx.project)
        lates = list(program.late_seeds())
        # One seed statement late for several RNGs gets one copy, before the earliest of their draws.
        earliest: dict[int, DrawBeforeSeed] = {}
        for late in lates:
            known = earliest.get(id(late.seed))
            if known is None or late.consumer.index < known.consumer.index:
                earliest[id(late.seed)] = late
        for late in lates:
            seed_line = code_of(late.seed.call.node.func)
            yield Violation(
                late.consumer.call.node,
                f"`{code_of(late.consumer.call.node.func)}(...)` draws from {RNG_LABEL[late.rng]} "
                f"before `{seed_line}(...)` seeds it, later in the same scope" + strict_note(reason),
                self._seed_earlier_fix(program, earliest[id(late.seed)], ctx.facts),
            )

    def _seed_earlier_fix(self, program: Program, late: DrawBeforeSeed, facts: FileFacts) -> Fix | None:
        consumer, seed = late.consumer.call, late.seed.call
        if not _is_call_line(seed.statement):
            return None
        for block in program.statement_blocks(late.seed.owner):
            first = _index(block, consumer.statement)
            last = _index(block, seed.statement)
            if first is None or last is None or first >= last:
                continue
            if _reassigned_between(facts, seed.statement, consumer.order, seed.order):
                return None
            seed_line = block[last]
            assert isinstance(seed_line, cst.SimpleStatementLine)  # `_is_call_line` held
            copy = cst.Module([]).code_for_node(seed_line.with_changes(leading_lines=()))
            return Fix(SAFE, f"Also call `{code_of(seed.node.func)}(...)` before the first draw",
                       (Insert(block[first], copy),))
        return None


def _is_call_line(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) for small in statement.body
    )


def _index(block: list[cst.BaseStatement], statement: cst.CSTNode) -> int | None:
    return next((i for i, s in enumerate(block) if s is statement), None)


def _reassigned_between(facts: FileFacts, statement: cst.CSTNode, start: int, end: int) -> bool:
    """Whether a name the seed statement reads is assigned between the draw and the seed."""
    used = {node.value for node in descendants(statement) if isinstance(node, cst.Name)}
    return any(
        start < site.order < end and isinstance(site.target, cst.Name) and site.target.value in used
        for site in facts.assignments
    )
