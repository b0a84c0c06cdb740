from __future__ import annotations

from collections.abc import Iterator

from repro_lint.cst_values import code_of, is_none
from repro_lint.facts import CallSite
from repro_lint.program import program_for
from repro_lint.rng import NUMPY, NUMPY_BIT_GENERATORS, NUMPY_STREAM_CONSTRUCTORS
from repro_lint.rule import SAFE, Fix, Replace, Rule, RuleContext, Violation

from ._seeding import unseeded_rng_violations, with_seed_argument


class UnseededNumpyRng(Rule):
    """
    What it does:
        Flags the first call in a program, in execution order, to a legacy global numpy
        sampler (`np.random.rand`, `np.random.shuffle`, `np.random.normal`, ...) when no
        `np.random.seed(x)` or seeding helper runs before it. Also flags, in programs and
        libraries alike, random generators built without a seed:
        `np.random.default_rng()`, `np.random.RandomState()` and
        `np.random.Generator(np.random.PCG64())`. Names that only look like numpy (a
        local `np`, `jax.numpy`, pandas methods) are not checked.

    Why it matters:
        Without a seed, numpy takes its state from OS entropy, so every run draws
        different numbers. A generator built without a seed in a Dataset's `__init__` is
        copied unchanged into every DataLoader worker, and still differs between runs.

    Example:
        import numpy as np

        noise = np.random.normal(size=8)
        rng = np.random.default_rng()

    Use instead:
        import numpy as np

        np.random.seed(0)
        noise = np.random.normal(size=8)
        rng = np.random.default_rng(0)

    Fix safety:
        Safe. For the global RNG, one seeding block is inserted where the program starts,
        seeding every global RNG the program draws from unseeded with config `seed`
        (default 0). A generator gets config `seed` as its seed:
        `np.random.default_rng()` becomes `np.random.default_rng(0)`.
    """

    code = "RPL103"
    name = "unseeded-numpy-rng"
    summary = "numpy's global RNG, or a numpy generator, is used without a seed"
    fix_applicability = SAFE
    markers = ("numpy",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        yield from unseeded_rng_violations(program_for(ctx.facts, ctx.project), ctx, NUMPY)
        for call in ctx.facts.calls_to(*NUMPY_STREAM_CONSTRUCTORS):
            yield from self._unseeded_constructor(call, call, ctx.seed)
        for call in ctx.facts.calls_to("numpy.random.Generator"):
            bits = call.argument(0, "bit_generator")
            inner = next((c for c in ctx.facts.calls if c.node is bits.value), None) if bits else None
            if inner is not None and inner.qualname in NUMPY_BIT_GENERATORS:
                yield from self._unseeded_constructor(call, inner, ctx.seed)

    def _unseeded_constructor(self, reported: CallSite, seeded: CallSite, seed: int) -> Iterator[Violation]:
        if seeded.has_star_kwargs or any(a.star == "*" for a in seeded.node.args):
            return
        argument = seeded.argument(0, "seed")
        if argument is not None and not is_none(argument.value):
            return
        name = code_of(seeded.node.func)
        yield Violation(
            reported.node,
            f"`{name}()` without a seed takes its state from OS entropy: every run draws different numbers",
            Fix(SAFE, f"Seed `{name}` with {seed}",
                (Replace(seeded.node, with_seed_argument(seeded.node, argument, seed)),)),
        )
