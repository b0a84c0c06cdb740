from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.rule import NO_PROGRAM, OFF_BY_DEFAULT, SAFE, Fix, Replace, Rule, RuleContext, Violation, strict_note

from ._flags import FlagSetting, flag_settings, trainer_flags


class CudnnBenchmarkEnabled(Rule):
    """
    What it does:
        Flags `torch.backends.cudnn.benchmark = True`, in every alias form, and the same
        setting made through `setattr(...)` or `torch.backends.cudnn.flags(benchmark=True)`,
        and Lightning's `Trainer(benchmark=True)`, which sets the flag.

    Why it matters:
        With benchmarking on, cuDNN times several convolution algorithms on the first
        call and keeps the fastest. Timings vary from run to run, so different runs can
        pick different algorithms and produce different numbers, even with every seed set.

        By default not in an evaluation or inference program: one that loads trained weights
        (`torch.load`, `load_state_dict`) and never computes gradients. There the choice
        changes only the rounding of forward outputs, while in training the different
        rounding of each step compounds into a different model. Nor where it is set only
        under an option that is off by default (`if args.test_only:`). Strict mode reports
        it there too, and in code no linted program runs.

    Example:
        import torch

        torch.backends.cudnn.benchmark = True

    Use instead:
        import torch

        torch.backends.cudnn.benchmark = False

    Fix safety:
        Safe: `True` becomes `False` (in `Trainer(benchmark=...)` too). The program computes
        the same thing, with a fixed algorithm choice; it may run slower.
    """

    code = "RPL201"
    name = "cudnn-benchmark-enabled"
    summary = "cuDNN benchmark mode picks convolution algorithms by timing, which varies between runs"
    fix_applicability = SAFE
    markers = ("benchmark",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        for setting in flag_settings(ctx.facts, "benchmark"):
            reason = _strict_reason(ctx, setting)
            if setting.value is True and ctx.reports(reason):
                yield Violation(
                    setting.node,
                    "`torch.backends.cudnn.benchmark` is enabled: cuDNN may choose different algorithms on each run"
                    + strict_note(reason),
                    Fix(SAFE, "Set `torch.backends.cudnn.benchmark` to False",
                        (Replace(setting.value_node, cst.Name("False")),)),
                )
        for trainer in trainer_flags(ctx.facts, "benchmark"):
            if trainer.value is True:
                yield Violation(
                    trainer.call.node,
                    "`Trainer(benchmark=True)` enables `torch.backends.cudnn.benchmark`: cuDNN may choose "
                    "different algorithms on each run",
                    Fix(SAFE, "Pass `benchmark=False`", (Replace(trainer.value_node, cst.Name("False")),)),
                )


def _strict_reason(ctx: RuleContext, setting: FlagSetting) -> str | None:
    if not ctx.runs_in_a_program_at(setting.scope, setting.node):
        return OFF_BY_DEFAULT if ctx.runs_in_a_program else NO_PROGRAM
    guard = ctx.false_guard(setting.site)
    if guard is not None:
        return f"it runs only when `{code_of(guard)}` holds, which the parser's defaults make false"
    if ctx.only_evaluated_at(setting.scope, setting.node):
        return "every linted program that runs this code loads trained weights and computes no gradients"
    return None
