from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import CallSite, FileFacts, Scope
from repro_lint.program import program_for
from repro_lint.rng import CUDA_SEEDS, TORCH
from repro_lint.rule import SAFE, AddImport, Edit, Fix, Insert, Rule, RuleContext, Violation
from repro_lint.traversal import descendants


class CudaOnlySeed(Rule):
    """
    What it does:
        Flags `torch.cuda.manual_seed(...)` and `torch.cuda.manual_seed_all(...)` in a
        file whose code never seeds torch's CPU generator: no `torch.manual_seed`, and
        no helper it calls (in the project, or an ecosystem one) that does. The program
        also gets RPL101 at its first draw on the CPU.

    Why it matters:
        The CUDA seeds only seed the GPU generators. Weight initialisation, dropout on
        CPU tensors, `randperm` and DataLoader shuffling draw from the CPU generator, which
        stays seeded from entropy, so runs still differ.

    Example:
        import torch

        torch.cuda.manual_seed_all(0)

    Use instead:
        import torch

        torch.manual_seed(0)

    Fix safety:
        Safe: `torch.manual_seed(<same argument>)` is inserted just before the CUDA seed
        call (which `torch.manual_seed` makes redundant but harmless). Only offered when
        the argument contains no call, so it is not evaluated twice with side effects.
    """

    code = "RPL107"
    name = "cuda-only-seed"
    summary = "Only the CUDA generators are seeded; torch's CPU generator is not"
    fix_applicability = SAFE
    markers = ("cuda",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        facts = ctx.facts
        cuda_seeds = facts.calls_to(*CUDA_SEEDS)
        program = program_for(facts, ctx.project)
        # A CPU seed beside it that runs only with an option (`if args.seed:`) still goes with it.
        if not cuda_seeds or TORCH in program.seeds_anywhere() or TORCH in program.seeds_off_by_default:
            return
        # One `torch.manual_seed` seeds the CPU generator for the whole file: only the
        # first call that can take it gets the fix.
        fixed = False
        for call in cuda_seeds:
            fix = None if fixed else self._fix(facts, call)
            fixed = fixed or fix is not None
            yield Violation(
                call.node,
                f"`{code_of(call.node.func)}` seeds only the CUDA generators; torch's CPU generator stays unseeded",
                fix,
            )

    def _fix(self, facts: FileFacts, call: CallSite) -> Fix | None:
        argument = call.argument(0, "seed")
        if (argument is None or _contains_call(argument.value)
                or not isinstance(call.statement, cst.SimpleStatementLine)):
            return None
        edits: list[Edit] = []
        expression = facts.expression_for("torch.manual_seed")
        if expression is None or not _refers_to(facts, call, expression.split(".")[0]):
            if _bound_in_scopes(call, "torch") or facts.module_scope.binds("torch"):
                return None
            expression = "torch.manual_seed"
            edits.append(AddImport("torch"))
        code = f"{expression}({code_of(argument.value)})\n"
        edits.insert(0, Insert(call.statement, code))  # type: ignore[arg-type]
        return Fix(SAFE, "Also seed the CPU generator with `torch.manual_seed`", tuple(edits))


def _refers_to(facts: FileFacts, call: CallSite, name: str) -> bool:
    """Whether `name` means at the call what it means at module level."""
    return facts.resolve_name(name, call.scope) == facts.resolve_name(name, facts.module_scope)


def _bound_in_scopes(call: CallSite, name: str) -> bool:
    scope: Scope | None = call.scope
    while scope is not None:
        if scope.binds(name):
            return True
        scope = scope.parent
    return False


def _contains_call(expr: cst.CSTNode) -> bool:
    return any(isinstance(node, cst.Call) for node in descendants(expr))
