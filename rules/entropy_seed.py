from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import CallSite, FileFacts
from repro_lint.rng import CUDA_SEEDS, ENTROPY_RESEEDS, SEEDED_CONSTRUCTORS, picks_random_seed, seed_argument, seed_call
from repro_lint.rule import UNSAFE, Fix, Replace, Rule, RuleContext, Violation

from ._seeding import entropy_call, with_seed_argument


class EntropySeed(Rule):
    """
    What it does:
        Flags seeds taken from entropy: `torch.seed()`, `torch.random.seed()`,
        `random.seed()` or `np.random.seed()` with no argument or `None`; seed helpers
        that pick a random seed when given none (mmengine's `set_random_seed`,
        detectron2's `seed_all_rng`, MONAI's `set_determinism(seed=None)`); and seeds
        computed from `time.time()`, `time.time_ns()`, `datetime.now()`, `os.urandom`,
        `uuid`, `secrets`, `os.getpid()` or `hash()` of a string, passed directly or
        through a variable of the same scope.

    Why it matters:
        Such a call seeds, but with a value that differs in every run, so the program is
        as irreproducible as if it were never seeded, while looking seeded. `hash()` of a
        string changes with `PYTHONHASHSEED`, which is random per process.

    Example:
        import time

        import torch

        torch.manual_seed(int(time.time()))

    Use instead:
        import torch

        torch.manual_seed(0)

    Fix safety:
        Unsafe: the entropy is replaced by config `seed` (default 0), so every run then
        draws the same numbers. That is the point, but it changes what a program that
        meant to vary between runs (for example to draw several samples) computes.
    """

    code = "RPL104"
    name = "entropy-seed"
    summary = "A seed taken from entropy (time, pid, urandom, no argument) differs in every run"
    fix_applicability = UNSAFE
    markers = ("seed",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        facts = ctx.facts
        calls_by_node = {call.node: call for call in facts.calls}
        for call in facts.calls:
            if call.qualname in ENTROPY_RESEEDS:
                yield self._reseed(call, ctx.seed)
                continue
            helper = seed_call(call)
            if helper is not None and picks_random_seed(call, helper):
                argument = seed_argument(call, helper)
                yield Violation(
                    call.node,
                    f"`{code_of(call.node.func)}` without a seed picks a random one: every run differs",
                    Fix(UNSAFE, f"Seed with {ctx.seed}",
                        (Replace(call.node, with_seed_argument(call.node, argument, ctx.seed)),)),
                )
                continue
            argument = self._seed_argument(call)
            if argument is not None:
                yield from self._seed_from_entropy(call, argument.value, facts, calls_by_node, ctx.seed)

    def _seed_argument(self, call: CallSite) -> cst.Arg | None:
        helper = seed_call(call)
        if helper is not None:
            return seed_argument(call, helper)
        if call.qualname in CUDA_SEEDS or call.qualname in SEEDED_CONSTRUCTORS:
            return call.argument(0, "seed")
        if call.method == "manual_seed":  # a torch.Generator's own seed
            return call.argument(0, "seed")
        return None

    def _seed_from_entropy(
        self,
        call: CallSite,
        value: cst.BaseExpression,
        facts: FileFacts,
        calls_by_node: dict[cst.Call, CallSite],
        seed: int,
    ) -> Iterator[Violation]:
        source = value
        if isinstance(value, cst.Name):
            assigned = _assigned_value(facts, call, value.value)
            if assigned is not None:
                source = assigned
        found = entropy_call(source, facts, calls_by_node)
        if found is None:
            return
        origin = code_of(found.node.func)
        yield Violation(
            call.node,
            f"the seed comes from `{origin}(...)`, which differs in every run",
            Fix(UNSAFE, f"Seed with {seed} instead of `{origin}(...)`",
                (Replace(source, cst.parse_expression(str(seed))),)),
        )

    def _reseed(self, call: CallSite, seed: int) -> Violation:
        message = f"`{code_of(call.node.func)}()` reseeds from OS entropy: every run differs"
        func = call.node.func
        statement = call.statement
        bare = (
            isinstance(statement, cst.SimpleStatementLine)
            and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and statement.body[0].value is call.node
        )
        if not (bare and isinstance(func, cst.Attribute)):
            return Violation(call.node, message)
        replacement_name = "manual_seed_all" if func.attr.value == "seed_all" else "manual_seed"
        replacement = call.node.with_changes(
            func=func.with_changes(attr=cst.Name(replacement_name)),
            args=[cst.Arg(cst.parse_expression(str(seed)))],
        )
        return Violation(
            call.node, message,
            Fix(UNSAFE, f"Call `{replacement_name}({seed})` instead", (Replace(call.node, replacement),)),
        )


def _assigned_value(facts: FileFacts, call: CallSite, name: str) -> cst.BaseExpression | None:
    """The value last assigned to `name` in the call's scope before the call."""
    latest = None
    for site in facts.assignments:
        if site.scope is not call.scope or site.order > call.order:
            continue
        if isinstance(site.target, cst.Name) and site.target.value == name and site.value is not None:
            latest = site
    return latest.value if latest is not None else None
