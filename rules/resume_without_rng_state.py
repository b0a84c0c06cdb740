from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import string_value
from repro_lint.effects import DREW
from repro_lint.facts import CallSite, FileFacts
from repro_lint.rng import RNG_LABEL, RNGS
from repro_lint.rule import NO_PROGRAM, OFF_BY_DEFAULT, TEST_CODE, Rule, RuleContext, Violation, strict_note

SAVES = ("torch.save",)
LOADS = ("torch.load",)
# Saving or restoring any of these counts: the program thought about RNG state.
_RNG_STATE_METHODS = frozenset({
    "get_rng_state", "set_rng_state", "get_rng_state_all", "set_rng_state_all",  # torch, torch.cuda
    "getstate", "setstate",  # random, random.Random
    "get_state", "set_state",  # numpy.random, RandomState, torch.Generator
})
_STATE_DICT = "state_dict"


NOT_RESUMED = "run with their defaults, the programs never reach this file's checkpoint loading"


class ResumeWithoutRngState(Rule):
    """
    What it does:
        Flags a `torch.save({...})` of a checkpoint dict with model and optimizer state
        (two or more `.state_dict()` values, or an optimizer key) in a program that also
        resumes (`torch.load` and `.load_state_dict(...)`), draws from a global RNG, and
        saves or restores no RNG state anywhere in the file: not `torch.get_rng_state`,
        `torch.cuda.get_rng_state_all`, `random.getstate`, `np.random.get_state`, a
        generator's `get_state`, nor their `set_*` counterparts. A program that loads
        checkpoints only under an option that is off by default (`if args.resume:`), code
        no linted program runs, and test code are reported in strict mode only.

    Why it matters:
        A resumed run restores the weights and the optimizer but starts the RNGs from the
        seed again, so dropout masks, augmentation and shuffling after the resume differ
        from those of an uninterrupted run: the two runs of the same training diverge.

    Example:
        import torch

        torch.manual_seed(0)
        model = torch.nn.Dropout(0.1)
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        state = torch.load("last.pt")
        model.load_state_dict(state["model"])
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, "last.pt")

    Use instead:
        import torch

        torch.manual_seed(0)
        model = torch.nn.Dropout(0.1)
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        state = torch.load("last.pt")
        model.load_state_dict(state["model"])
        torch.set_rng_state(state["rng"])
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "rng": torch.get_rng_state()}, "last.pt")

    Fix safety:
        No fix: where the states belong depends on the checkpoint's layout. Save
        `torch.get_rng_state()`, `torch.cuda.get_rng_state_all()`, `random.getstate()`
        and `np.random.get_state()` (those the program uses) into the checkpoint, and
        restore them with the `set_*` counterparts after loading it; a loader's
        `generator` and a sampler's epoch belong there too.
    """

    code = "RPL108"
    name = "resume-without-rng-state"
    summary = "A resumable checkpoint without RNG state: a resumed run draws other numbers than an uninterrupted one"
    markers = ("state_dict",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reason = TEST_CODE if ctx.is_test_code else None if ctx.runs_in_a_program else NO_PROGRAM
        if not ctx.reports(reason):
            return
        facts = ctx.facts
        saves = [call for call in facts.calls_to(*SAVES) if _is_checkpoint(facts, call)]
        loads = facts.calls_to(*LOADS)
        if not saves or not loads:
            return
        if not any(call.method == "load_state_dict" for call in facts.calls):
            return
        if any(call.method in _RNG_STATE_METHODS for call in facts.calls):
            return
        if reason is None and all(ctx.false_guard(call) is not None for call in loads):
            # Run as documented the program never resumes: `if args.resume:` with no resume by default.
            reason = OFF_BY_DEFAULT
        elif reason is None and not any(ctx.runs_in_a_program_at(call.scope, call.node) for call in loads):
            reason = NOT_RESUMED  # `resume(...)` called under `if args.resume:`, a trainer class never built
        if not ctx.reports(reason):
            return
        effects = ctx.project.file_effects(facts) | ctx.project.program_effects(facts.module_name)
        used = [rng for rng in reversed(RNGS) if DREW[rng] in effects]
        if not used:
            return
        names = ", ".join(RNG_LABEL[rng] for rng in used)
        for call in saves:
            yield Violation(
                call.node,
                "this checkpoint saves model and optimizer state and the program resumes from checkpoints, but "
                f"it saves and restores no RNG state ({names}): a resumed run draws different numbers from an "
                "uninterrupted one" + strict_note(reason),
            )


def _is_checkpoint(facts: FileFacts, call: CallSite) -> bool:
    """The saved object is a dict literal (or a name assigned one in the same scope) with model and
    optimizer state."""
    first = call.argument(0, "obj")
    value = first.value if first is not None else None
    if isinstance(value, cst.Name):
        name = value.value
        binder = facts.binding_scope(name, call.scope)
        assigned = [
            site.value for site in facts.assignments
            if isinstance(site.target, cst.Name) and site.target.value == name
            and facts.binding_scope(name, site.scope) is binder and site.order < call.order
        ]
        value = assigned[-1] if assigned else None
    if not isinstance(value, cst.Dict):
        return False
    states = 0
    optimizer_key = False
    for element in value.elements:
        if not isinstance(element, cst.DictElement):
            continue
        item = element.value
        if isinstance(item, cst.Call) and isinstance(item.func, cst.Attribute) and item.func.attr.value == _STATE_DICT:
            states += 1
            optimizer_key = optimizer_key or "optim" in (string_value(element.key) or "").lower()
    return states >= 2 or optimizer_key
