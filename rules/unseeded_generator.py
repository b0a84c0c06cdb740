from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import CallSite, FileFacts, Scope
from repro_lint.rule import SAFE, TEST_CODE, Fix, Replace, Rule, RuleContext, Violation, strict_note

_GENERATOR = "torch.Generator"
# Methods that give a generator a known state.
_SEEDING_METHODS = frozenset({"manual_seed", "set_state"})


class UnseededGenerator(Rule):
    """
    What it does:
        Flags a `torch.Generator()` that is used, passed as `generator=` to a sampler,
        `DataLoader`, `random_split` or `torch.randperm`, with no `manual_seed(...)`
        before the use. A generator built inline (`generator=torch.Generator()`) counts.
        A generator handed to other code before its use is taken as seeded there, and so is
        one passed as `generator=` to code outside torch (a project's sampler class may seed
        what it receives).

    Why it matters:
        A new generator starts from the same built-in default state in every process,
        whatever `torch.manual_seed` says. The program's seed never reaches it: running
        the experiment over several seeds changes nothing it draws, and every unseeded
        generator yields the same stream (a training and a validation loader shuffle
        alike). An explicit seed makes the stream a visible, controlled choice.

    Example:
        import torch

        order = torch.randperm(10, generator=torch.Generator())

    Use instead:
        import torch

        order = torch.randperm(10, generator=torch.Generator().manual_seed(0))

    Fix safety:
        Safe: the generator is seeded where it is built, `torch.Generator()` becoming
        `torch.Generator().manual_seed(SEED)` with config `seed` (default 0);
        `manual_seed` returns the generator itself.
    """

    code = "RPL106"
    name = "unseeded-generator"
    summary = "A torch.Generator is used without a manual_seed"
    fix_applicability = SAFE
    markers = ("Generator",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reason = TEST_CODE if ctx.is_test_code else None
        if not ctx.reports(reason):
            return
        facts = ctx.facts
        for built in facts.calls_to(_GENERATOR):
            use = self._unseeded_use(facts, built)
            if use is None:
                continue
            seeded = cst.Call(
                func=cst.Attribute(built.node, cst.Name("manual_seed")),
                args=[cst.Arg(cst.parse_expression(str(ctx.seed)))],
            )
            yield Violation(
                use.node,
                f"`{code_of(use.node.func)}(...)` gets a `torch.Generator` that was never seeded" + strict_note(reason),
                Fix(SAFE, f"Seed the generator where it is built: `.manual_seed({ctx.seed})`",
                    (Replace(built.node, seeded),)),
            )

    def _unseeded_use(self, facts: FileFacts, built: CallSite) -> CallSite | None:
        """The first call that receives the generator unseeded, or None."""
        for call in facts.calls:
            argument = call.keyword("generator")
            if argument is not None and argument.value is built.node:
                return call if _draws_itself(call) else None
        binding = next(
            (s for s in facts.assignments if s.value is built.node and isinstance(s.target, cst.Name)),
            None,
        )
        if binding is None:
            return None
        name = binding.target.value  # type: ignore[attr-defined]
        for call in facts.calls:
            if call.order <= built.order or not _sees_binding(call.scope, binding.scope, name):
                continue
            if _reassigned(facts, binding.scope, name, binding.order, call.order):
                return None
            func = call.node.func
            if isinstance(func, cst.Attribute) and _is_name(func.value, name):
                if func.attr.value in _SEEDING_METHODS:
                    return None
                continue
            argument = call.keyword("generator")
            if argument is not None and _is_name(argument.value, name):
                return call if _draws_itself(call) else None
            if any(_is_name(arg.value, name) for arg in call.node.args):
                return None  # handed to code that may seed it
        return None


def _draws_itself(call: CallSite) -> bool:
    """torch's own samplers and functions draw from the generator as given; other code
    (a project's sampler class) may seed it first, as it is free to."""
    return call.qualname is None or call.qualname.startswith("torch.")


def _is_name(expr: cst.BaseExpression, name: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == name


def _sees_binding(scope: Scope | None, binding_scope: Scope, name: str) -> bool:
    """Whether `name` in `scope` refers to the binding made in `binding_scope`."""
    while scope is not None and scope is not binding_scope:
        if scope.binds(name) or scope.kind == "class":
            return False
        scope = scope.parent
    return scope is binding_scope


def _reassigned(facts: FileFacts, scope: Scope, name: str, start: int, end: int) -> bool:
    return any(
        site.scope is scope and start < site.order < end and _is_name(site.target, name)
        for site in facts.assignments
    )
