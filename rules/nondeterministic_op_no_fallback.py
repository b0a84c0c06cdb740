from __future__ import annotations

from collections.abc import Iterator

from repro_lint.effects import DETERMINISTIC_RAISES, DETERMINISTIC_WARN_ONLY, deterministic_mode
from repro_lint.rule import Rule, RuleContext, Violation, strict_note
from repro_lint.versions import format_version

from ._ops import OpMatcher, OpUse, advice_reason, reachable_effects, without_fallback


class NondeterministicOpNoFallback(Rule):
    """
    What it does:
        Flags calls to PyTorch ops that have no deterministic implementation in the target
        torch version: under `torch.use_deterministic_algorithms(True)` they raise a
        RuntimeError, or they stay nondeterministic. Every call form counts: `torch.X(...)`,
        `F.X(...)` through any alias, `nn` module constructors and tensor methods. Argument
        conditions from the op catalog are checked, so `F.interpolate(mode="nearest")` or
        `torch.bincount(x)` without weights are not flagged where the catalog says they are
        fine. The op is flagged whether or not the program turns deterministic mode on;
        an op that is deterministic by default but raises under that mode (for example
        `torch.bincount` without weights in torch 1.13) is flagged only in a program that
        turns the mode on so that it raises. Under
        `torch.use_deterministic_algorithms(True, warn_only=True)` (Lightning:
        `Trainer(deterministic="warn")`) the message says the op warns and stays
        nondeterministic. An op whose nondeterminism is in its backward is not flagged where
        no gradient can flow: under `torch.no_grad()` or `torch.inference_mode()`, in a
        function they decorate, or on a value that carries no gradient (`.detach()`, a
        tensor from `torch.load`, a batch from a data loader, and what indexing or `.to()`
        make of those), nor for a module its class applies only in such places. Anything
        else may carry a gradient, and is flagged. An op that is nondeterministic only for
        inputs of some rank (`cross_entropy` on 3 or more dims) is flagged where a
        `transpose`, `permute`, `view` or `reshape` in front of it shows that rank. Behaviour the
        catalog gives for Apple's MPS device only is flagged only in files that use MPS
        (`"mps"` passed to a call, or `torch.backends.mps`).

    Why it matters:
        Turning deterministic mode on does not help these ops: the run either stops with a
        RuntimeError, often at the first backward pass hours into training, or silently
        keeps its run-to-run differences. Each needs its own workaround, which the message
        gives from the catalog.

    Example:
        import torch
        import torch.nn.functional as F

        def upsample(features):
            return F.interpolate(features, scale_factor=2, mode="bilinear")

    Use instead:
        import torch
        import torch.nn.functional as F

        def upsample(features):
            return F.interpolate(features, scale_factor=2, mode="nearest")

    Fix safety:
        No automatic fix: every workaround changes what the program computes (another
        interpolation mode, another padding, running the op on the CPU), so the message
        carries the catalog's workaround for a person to apply.
    """

    code = "RPL401"
    name = "nondeterministic-op-no-fallback"
    summary = "An op with no deterministic implementation: it raises under deterministic mode or stays nondeterministic"

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        version = format_version(ctx.torch_version)
        mode = deterministic_mode(reachable_effects(ctx.facts, ctx.project))
        warn_only = mode == DETERMINISTIC_WARN_ONLY
        for uses in OpMatcher(ctx.facts, ctx.torch_version).calls():
            use = without_fallback(uses, mode == DETERMINISTIC_RAISES)
            if use is None:
                continue
            reason = advice_reason(use, ctx)
            if ctx.reports(reason):
                yield Violation(use.node, _message(use, version, warn_only) + strict_note(reason), op=use.entry.id)


def _message(use: OpUse, version: str, warn_only: bool) -> str:
    entry = use.entry
    what = f"`{use.spelling}` ({use.condition})"
    if not use.nondeterministic_by_default:
        verdict = (
            f"raises a RuntimeError under `torch.use_deterministic_algorithms(True)` in torch {version}, "
            "which this program turns on"
        )
    elif warn_only:
        verdict = (
            f"is nondeterministic and has no deterministic implementation in torch {version}: under "
            "`torch.use_deterministic_algorithms(True, warn_only=True)`, which this program turns on, "
            "it warns and stays nondeterministic"
        )
    elif use.raises_under_deterministic_mode:
        verdict = (
            f"is nondeterministic and has no deterministic implementation in torch {version}: "
            "it raises a RuntimeError under `torch.use_deterministic_algorithms(True)`"
        )
    else:
        verdict = (
            f"is nondeterministic and has no deterministic implementation in torch {version}: "
            "it stays nondeterministic even under `torch.use_deterministic_algorithms(True)`"
        )
    return f"{what} {verdict}. Workaround: {entry.workaround}"
