from __future__ import annotations

from collections.abc import Iterator

from repro_lint.program import program_for
from repro_lint.rng import RANDOM
from repro_lint.rule import SAFE, Rule, RuleContext, Violation

from ._seeding import unseeded_rng_violations


class UnseededPythonRandom(Rule):
    """
    What it does:
        Flags the first call in a program, in execution order, to a function of Python's
        `random` module (`random.shuffle`, `random.choice`, `random.random`, ...) when no
        `random.seed(x)` or seeding helper runs before it. A local variable, parameter or
        attribute named `random` is not the module and is not checked; neither are
        library modules, which only define things. A draw whose statement only stores the
        value under a name for a port, an address or a colour (`args.dist_url`,
        `os.environ["MASTER_PORT"]`, `bbox_colors`) is skipped: no result depends on it.

    Why it matters:
        The `random` module seeds itself from OS entropy at start-up, so shuffles,
        samples and augmentations differ in every run.

    Example:
        import random

        order = random.sample(range(10), 10)

    Use instead:
        import random

        random.seed(0)
        order = random.sample(range(10), 10)

    Fix safety:
        Safe: one seeding block is inserted where the program starts, seeding every global
        RNG the program draws from unseeded with config `seed` (default 0).
    """

    code = "RPL102"
    name = "unseeded-python-random"
    summary = "The program draws from Python's `random` module before seeding it"
    fix_applicability = SAFE
    markers = ("random",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        yield from unseeded_rng_violations(program_for(ctx.facts, ctx.project), ctx, RANDOM)
