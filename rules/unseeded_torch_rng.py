from __future__ import annotations

from collections.abc import Iterator

from repro_lint.program import program_for
from repro_lint.rng import TORCH
from repro_lint.rule import SAFE, Rule, RuleContext, Violation

from ._seeding import unseeded_rng_violations


class UnseededTorchRng(Rule):
    """
    What it does:
        Flags the first call in a program, in execution order, that draws from torch's
        global RNG when no torch seed runs before it: random tensors (`torch.rand`,
        `randn`, `randint`, `randperm`, ...), in-place samplers (`x.normal_()`),
        `nn.init` initialisers, building layers with random initial weights (also through
        a model class of the project), dropout, `DataLoader(shuffle=True)` and
        `random_split`. Seeds count wherever the entry code reaches them: directly, in a
        helper of the project, in an ecosystem helper such as Lightning's
        `seed_everything`, or in a function named in config `seed-functions`. Library
        modules, which only define things, are not checked, nor are test files (strict
        mode checks them). A function started with `torch.multiprocessing.spawn` runs in
        fresh processes: the parent's seeds do not count there, and the finding has no fix
        (the seed belongs inside that function).

    Why it matters:
        An unseeded RNG starts from a different state in every process, so weights,
        data order and dropout masks differ between runs, and so do the results.

    Example:
        import torch

        weights = torch.randn(3, 3)

    Use instead:
        import torch

        torch.manual_seed(0)
        weights = torch.randn(3, 3)

    Fix safety:
        Safe: one seeding block is inserted where the program starts (the top of the
        `__main__` block, or after the imports), seeding every global RNG the program
        draws from unseeded with config `seed` (default 0). Missing imports are added and
        existing aliases are reused. The program computes the same thing, from a fixed
        starting state.
    """

    code = "RPL101"
    name = "unseeded-torch-rng"
    summary = "The program draws from torch's global RNG before any torch seed"
    fix_applicability = SAFE
    markers = ("torch",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        yield from unseeded_rng_violations(program_for(ctx.facts, ctx.project), ctx, TORCH)
