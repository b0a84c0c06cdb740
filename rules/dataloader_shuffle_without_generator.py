from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import CallSite
from repro_lint.rng import feeds_evaluation
from repro_lint.rule import SAFE, Fix, Replace, Rule, RuleContext, Violation, strict_note

from ._dataloader import (
    argument_of,
    constant_value,
    dataloader_calls,
    inline_random_samplers,
    passes,
    seeded_generator,
    splat_passes_any,
    strict_only,
    with_keywords,
)

_LOADER_GENERATOR_POSITION = 12


class DataloaderShuffleWithoutGenerator(Rule):
    """
    What it does:
        Flags a `DataLoader` that shuffles (`shuffle` is not provably False) without a
        `generator=`, and a `DataLoader` whose `sampler=` is a `RandomSampler(...)` built
        without its own `generator=`. Flagged even when the program seeds torch globally.
        Calls with a `**kwargs` splat are skipped, since the splat may carry the generator.

        By default only where a linted program runs this code and never seeds torch: a
        seeded program draws the same order in every run. A loader for evaluation (stored
        as `val_loader` or `test_loader`, or over a dataset built with `train=False` or
        `split="test"`) is reported in strict mode only: the order of its batches changes
        no metric summed or averaged over them. Strict mode reports it anywhere.

    Why it matters:
        Without a generator the shuffle order comes from the global torch RNG: it changes
        between unseeded runs, and in a seeded run it still shifts whenever any other code
        draws from that RNG before the loader does (a new layer, a dropout, a changed
        augmentation). A dedicated seeded generator keeps the data order fixed. A loader's
        `generator=` does not reach a sampler passed to it: the sampler needs its own.

    Example:
        import torch
        from torch.utils.data import DataLoader

        data = torch.arange(8.0)
        loader = DataLoader(data, batch_size=2, shuffle=True)

    Use instead:
        import torch
        from torch.utils.data import DataLoader

        data = torch.arange(8.0)
        loader = DataLoader(data, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(0))

    Fix safety:
        Safe: adds `generator=torch.Generator().manual_seed(SEED)` (SEED is the `seed`
        setting) to the loader, or to the `RandomSampler` it is given, naming torch as the
        file does and adding `import torch` where needed. A loader created anew every
        epoch then repeats the same order each epoch: create it once, or pass one
        generator created outside the loop.
    """

    code = "RPL302"
    name = "dataloader-shuffle-without-generator"
    summary = "A shuffling DataLoader without generator= takes its order from the global torch RNG"
    fix_applicability = SAFE
    markers = ("DataLoader",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        for loader, sampler, position in inline_random_samplers(ctx.facts):
            reason = _strict_reason(ctx, loader)
            if not ctx.reports(reason):
                continue
            yield Violation(
                loader.node,
                f"DataLoader samples with `{code_of(sampler.func)}` built without `generator`: the data order "
                "comes from the global torch RNG (a loader's own `generator` does not reach its sampler)"
                + strict_note(reason),
                self._fix(ctx, loader, sampler, position),
            )
        for loader in dataloader_calls(ctx.facts):
            shuffle = argument_of(ctx.facts, loader, "shuffle")
            if shuffle is None or passes(argument_of(ctx.facts, loader, "generator")):
                continue
            value = constant_value(ctx, shuffle.value, loader.scope)
            reason = _strict_reason(ctx, loader)
            if value == 0 or not ctx.reports(reason):
                continue
            described = (
                "`shuffle=True`" if value is not None
                else f"`shuffle={code_of(shuffle.value)}` (not provably False)"
            )
            yield Violation(
                loader.node,
                f"DataLoader with {described} lacks `generator`: the data order comes from the global torch RNG"
                + strict_note(reason),
                self._fix(ctx, loader, loader.node, _LOADER_GENERATOR_POSITION),
            )

    def _fix(self, ctx: RuleContext, loader: CallSite, target: cst.Call, position: int) -> Fix | None:
        """Give `target` (the loader, or its sampler) a seeded generator."""
        if target is loader.node and splat_passes_any(ctx.facts, loader, ["generator"]):
            return None
        generator = seeded_generator(ctx, loader.scope)
        if generator is None:
            return None
        value, edits = generator
        fixed = with_keywords(target, {"generator": position}, {"generator": value})
        return Fix(SAFE, "Add a seeded `generator`", (Replace(target, fixed), *edits))


_EVALUATION_ORDER = "an evaluation loader: the order of its batches changes no sum, mean or count taken over them"


def _strict_reason(ctx: RuleContext, loader: CallSite) -> str | None:
    reason = strict_only(ctx, loader)
    if reason is None and feeds_evaluation(loader, ctx.facts):
        return _EVALUATION_ORDER
    return reason
