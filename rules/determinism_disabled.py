from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import literal_bool
from repro_lint.rule import NO_PROGRAM, SAFE, UNSAFE, Fix, Replace, Rule, RuleContext, Violation, strict_note

from ._flags import flag_settings, trainer_flags


class DeterminismDisabled(Rule):
    """
    What it does:
        Flags code that turns determinism off: `torch.backends.cudnn.deterministic = False`,
        `torch.backends.cudnn.flags(deterministic=False)`,
        `torch.use_deterministic_algorithms(False)` and Lightning's
        `Trainer(deterministic=False)`, which calls it.

    Why it matters:
        These switches choose between reproducible and fast-but-nondeterministic kernels.
        Turning them off explicitly, often left over from a benchmark, makes results
        differ between runs on the GPU.

    Example:
        import torch

        torch.backends.cudnn.deterministic = False
        torch.use_deterministic_algorithms(False)

    Use instead:
        import torch

        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)

    Fix safety:
        The cuDNN flag fix is safe: cuDNN then uses deterministic algorithms only.
        Turning `use_deterministic_algorithms(False)` (or `Trainer(deterministic=False)`)
        into `True` is unsafe: ops without a deterministic implementation raise a
        RuntimeError at run time.
    """

    code = "RPL202"
    name = "determinism-disabled"
    summary = "Deterministic algorithms are explicitly turned off"
    fix_applicability = SAFE
    markers = ("deterministic",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        # A library's opt-out helper (`unset_deterministic()`) matters only in a program that runs it.
        reason = None if ctx.runs_in_a_program else NO_PROGRAM
        if not ctx.reports(reason):
            return
        note = strict_note(reason)
        for setting in flag_settings(ctx.facts, "deterministic"):
            if setting.value is False:
                yield Violation(
                    setting.node,
                    "`torch.backends.cudnn.deterministic` is turned off: cuDNN may use nondeterministic algorithms"
                    + note,
                    Fix(SAFE, "Set `torch.backends.cudnn.deterministic` to True",
                        (Replace(setting.value_node, cst.Name("True")),)),
                )
        for call in ctx.facts.calls_to("torch.use_deterministic_algorithms"):
            mode = call.argument(0, "mode")
            if mode is not None and literal_bool(mode.value) is False:
                yield Violation(
                    call.node,
                    "`torch.use_deterministic_algorithms(False)` lets PyTorch use nondeterministic kernels" + note,
                    Fix(UNSAFE, "Call `torch.use_deterministic_algorithms(True)` (ops without a deterministic "
                        "implementation will then raise)", (Replace(mode.value, cst.Name("True")),)),
                )
        for trainer in trainer_flags(ctx.facts, "deterministic"):
            if trainer.value is False:
                yield Violation(
                    trainer.call.node,
                    "`Trainer(deterministic=False)` calls `torch.use_deterministic_algorithms(False)`, which lets "
                    "PyTorch use nondeterministic kernels" + note,
                    Fix(UNSAFE, "Pass `deterministic=True` (ops without a deterministic implementation will then "
                        "raise)", (Replace(trainer.value_node, cst.Name("True")),)),
                )
