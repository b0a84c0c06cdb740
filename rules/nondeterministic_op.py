from __future__ import annotations

from collections.abc import Iterator

from repro_lint.effects import DETERMINISTIC_RAISES, DETERMINISTIC_WARN_ONLY, deterministic_mode
from repro_lint.facts import FileFacts
from repro_lint.fixes import insert_at_program_start
from repro_lint.rule import NO_PROGRAM, UNSAFE, AddImport, Edit, Fix, Rule, RuleContext, Violation, strict_note
from repro_lint.versions import format_version

from ._ops import (
    OpMatcher,
    OpUse,
    advice_reason,
    deterministic_mode_covers,
    reachable_effects,
    without_fallback,
)

DETERMINISTIC_ALGORITHMS = "torch.use_deterministic_algorithms"
TOLD_ELSEWHERE = "reported once per program, in the first module it runs that builds cuDNN convolutions"


class NondeterministicOp(Rule):
    """
    What it does:
        Flags calls to PyTorch ops that are nondeterministic by default but switch to a
        deterministic implementation under `torch.use_deterministic_algorithms(True)`, in a
        program that never turns that mode on. A helper that turns it on counts, in this
        file or anywhere in the linted project. For cuDNN convolutions,
        `torch.backends.cudnn.deterministic = True` counts too, and they are reported once
        per program, not once per layer or per model file: at the first convolution of the
        first module the program runs that builds them (its own file first, then by module
        name); strict mode reports every file. Most such ops are
        nondeterministic on CUDA only; `index_put_(accumulate=True)` and `put_` also are
        on the CPU.

        By default it reports programs and the modules a linted program imports; code that
        no linted program runs (a library on its own) only in strict mode. An op whose
        nondeterminism is in its backward is not reported where no gradient can flow:
        under `torch.no_grad()` or `torch.inference_mode()`, in a function they decorate,
        or on a value that carries no gradient (`.detach()`, `torch.load`, a batch from a
        loader).

    Why it matters:
        These ops use atomic additions or unordered writes, so two runs of the same seeded
        program give different numbers. The deterministic implementation exists, but torch
        only uses it when asked.

    Example:
        import torch

        counts = torch.zeros(4, device="cuda")
        counts.index_add_(0, torch.tensor([0, 1, 1], device="cuda"), torch.ones(3, device="cuda"))

    Use instead:
        import torch

        torch.use_deterministic_algorithms(True)
        counts = torch.zeros(4, device="cuda")
        counts.index_add_(0, torch.tensor([0, 1, 1], device="cuda"), torch.ones(3, device="cuda"))

    Fix safety:
        Unsafe: `torch.use_deterministic_algorithms(True)` is inserted at the start of the
        program (the top of its `__main__` block, else after the imports). Other ops in the
        program may then raise a RuntimeError (see RPL401), and deterministic kernels can
        be slower. Files that only define functions and classes get no fix.
    """

    code = "RPL402"
    name = "nondeterministic-op"
    summary = "A nondeterministic op in a program that never turns on torch.use_deterministic_algorithms"
    fix_applicability = UNSAFE

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reason = None if ctx.runs_in_a_program else NO_PROGRAM
        if not ctx.reports(reason):
            return
        note = strict_note(reason)
        effects = reachable_effects(ctx.facts, ctx.project)
        version = format_version(ctx.torch_version)
        raising = deterministic_mode(effects) == DETERMINISTIC_RAISES
        uses = []
        for call_uses in OpMatcher(ctx.facts, ctx.torch_version).calls():
            if without_fallback(call_uses, raising) is not None:
                continue  # RPL401 reports this call
            use = next((use for use in call_uses if _left_nondeterministic(use, effects)), None)
            if use is not None and ctx.reports(advice_reason(use, ctx)):
                uses.append(use)
        if not uses:
            return
        warn_only = deterministic_mode(effects) == DETERMINISTIC_WARN_ONLY
        # A program that asks for warn-only mode would switch it back on after an inserted call.
        fix = None if warn_only else _deterministic_mode_fix(ctx.facts)
        cudnn = [use for use in uses if use.entry.cudnn]
        # Asked only of files that build convolutions: the answer depends on every file of the project.
        told_elsewhere = (None if not cudnn or ctx.project.reports_cudnn_convolutions(ctx.facts.module_name)
                          else TOLD_ELSEWHERE)
        if cudnn and ctx.reports(told_elsewhere):
            cudnn_note = note or strict_note(advice_reason(cudnn[0], ctx) or told_elsewhere)
            yield Violation(cudnn[0].node, _cudnn_message(cudnn, version) + cudnn_note, fix, op=cudnn[0].entry.id)
        for use in uses:
            if not use.entry.cudnn:
                own_note = note or strict_note(advice_reason(use, ctx))
                yield Violation(use.node, _message(use, version, warn_only) + own_note, fix, op=use.entry.id)


def _left_nondeterministic(use: OpUse, effects: frozenset[str]) -> bool:
    return (
        use.nondeterministic_by_default
        and use.has_deterministic_alternative
        and not deterministic_mode_covers(use.entry, effects)
    )


def _message(use: OpUse, version: str, warn_only: bool) -> str:
    entry = use.entry
    if warn_only:
        return (
            f"`{use.spelling}` ({use.condition}) is nondeterministic, and this program turns on "
            "`torch.use_deterministic_algorithms(True, warn_only=True)`, under which it only warns and "
            f"stays nondeterministic in torch {version}. Workaround: {entry.workaround}"
        )
    return (
        f"`{use.spelling}` ({use.condition}) is nondeterministic, and this program never turns on "
        f"`torch.use_deterministic_algorithms(True)`, which makes it deterministic in torch {version}. "
        f"Workaround: {entry.workaround}"
    )


def _cudnn_message(uses: list[OpUse], version: str) -> str:
    first = uses[0]
    others = len(uses) - 1
    which = f"`{first.spelling}` here" + (f" and {others} more in this file" if others else "")
    return (
        f"cuDNN convolutions ({which}) pick nondeterministic algorithms on CUDA, and this program sets "
        "neither `torch.backends.cudnn.deterministic = True` nor `torch.use_deterministic_algorithms(True)`, "
        f"either of which makes them deterministic in torch {version}. "
        f"Workaround: {first.entry.workaround}"
    )


def _deterministic_mode_fix(facts: FileFacts) -> Fix | None:
    """Turn deterministic mode on where the program starts; library files get no fix."""
    if not facts.is_program or not facts.module.body:
        return None
    edits: list[Edit] = []
    function = facts.expression_for(DETERMINISTIC_ALGORITHMS)
    if function is None:
        if facts.module_scope.binds("torch"):
            return None  # `torch` names something else here; importing it would shadow that
        edits.append(AddImport("torch"))
        function = DETERMINISTIC_ALGORITHMS
    code = f"{function}(True)\n"
    edits.append(insert_at_program_start(facts.module, facts.main_block, code))
    return Fix(UNSAFE, f"Call `{function}(True)` at the start of the program", tuple(edits))
