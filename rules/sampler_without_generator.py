from __future__ import annotations

from collections.abc import Iterator

from repro_lint.cst_values import argument, code_of, has_splat
from repro_lint.facts import CallSite
from repro_lint.rule import SAFE, Fix, Replace, Rule, RuleContext, Violation, strict_note

from ._dataloader import (
    SAMPLER_GENERATOR_POSITIONS,
    inline_random_samplers,
    passes,
    seeded_generator,
    strict_only,
    with_keywords,
)


class SamplerWithoutGenerator(Rule):
    """
    What it does:
        Flags `random_split`, `RandomSampler`, `SubsetRandomSampler` and
        `WeightedRandomSampler` called without `generator=`, in every import form. A
        `RandomSampler` passed straight to a DataLoader's `sampler=` is reported by RPL302
        instead. Calls with a `**kwargs` splat are skipped, since the splat may carry the
        generator.

        By default only where a linted program runs this code and never seeds torch: a
        seeded program draws the same order in every run. Strict mode reports it anywhere.

    Why it matters:
        Without a generator these draw from the global torch RNG. The train/validation
        split or the sample order then changes between unseeded runs, and in a seeded run
        it shifts whenever other code draws from the global RNG first. A split that moves
        between runs also leaks validation examples into training when a run is resumed.

    Example:
        import torch
        from torch.utils.data import random_split

        data = torch.arange(10.0)
        train, val = random_split(data, [8, 2])

    Use instead:
        import torch
        from torch.utils.data import random_split

        data = torch.arange(10.0)
        train, val = random_split(data, [8, 2], generator=torch.Generator().manual_seed(0))

    Fix safety:
        Safe: adds `generator=torch.Generator().manual_seed(SEED)` (SEED is the `seed`
        setting), naming torch as the file does and adding `import torch` where needed.
        A sampler created anew every epoch then repeats the same order each epoch: create
        it once, or pass one generator created outside the loop.
    """

    code = "RPL303"
    name = "sampler-without-generator"
    summary = "random_split and random samplers without generator= draw from the global torch RNG"
    fix_applicability = SAFE
    markers = ("random_split", "RandomSampler")

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reported_by_rpl302 = {id(sampler) for _, sampler, _ in inline_random_samplers(ctx.facts)}
        for call in ctx.facts.calls_to(*SAMPLER_GENERATOR_POSITIONS):
            if has_splat(call.node) or id(call.node) in reported_by_rpl302:
                continue
            position = SAMPLER_GENERATOR_POSITIONS[call.qualname]  # type: ignore[index]
            reason = strict_only(ctx, call)
            if passes(argument(call.node, position, "generator")) or not ctx.reports(reason):
                continue
            yield Violation(
                call.node,
                f"`{code_of(call.node.func)}` without `generator` draws from the global torch RNG"
                + strict_note(reason),
                self._fix(ctx, call, position),
            )

    def _fix(self, ctx: RuleContext, call: CallSite, position: int) -> Fix | None:
        generator = seeded_generator(ctx, call.scope)
        if generator is None:
            return None
        value, edits = generator
        fixed = with_keywords(call.node, {"generator": position}, {"generator": value})
        return Fix(SAFE, "Add a seeded `generator`", (Replace(call.node, fixed), *edits))
