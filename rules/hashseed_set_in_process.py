from __future__ import annotations

from collections.abc import Iterator

from repro_lint.effects import assignment_effects, call_effects, env_set
from repro_lint.rule import Rule, RuleContext, Violation

_HASHSEED = env_set("PYTHONHASHSEED")


class HashseedSetInProcess(Rule):
    """
    What it does:
        Flags setting `PYTHONHASHSEED` from inside the program: `os.environ["PYTHONHASHSEED"]
        = ...`, `os.environ.setdefault(...)`, `os.environ.update(...)` and `os.putenv(...)`.

    Why it matters:
        The interpreter reads `PYTHONHASHSEED` once, when it starts. Setting it later
        leaves this process's string hashing randomized, so the iteration order of sets
        of strings (and anything built from them: vocabularies, file lists, sampled keys)
        still changes from run to run, while the code looks as if it fixed it. Only
        processes started afterwards (subprocesses, `spawn` workers) see the value.

    Example:
        import os

        os.environ["PYTHONHASHSEED"] = "0"

    Use instead:
        # Set it where the program is launched: PYTHONHASHSEED=0 python train.py
        import os

        print(os.environ.get("PYTHONHASHSEED"))

    Fix safety:
        No fix: the variable belongs in the launch command, the job script or the
        container's environment, which the linter cannot see.
    """

    code = "RPL205"
    name = "hashseed-set-in-process"
    summary = "PYTHONHASHSEED set by the running program does not change its own string hashing"
    markers = ("PYTHONHASHSEED",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        message = (
            "setting `PYTHONHASHSEED` here does not change this interpreter's string hashing, which was "
            "fixed at startup; set it where the program is launched (`PYTHONHASHSEED=0 python ...`)"
        )
        for site in ctx.facts.assignments:
            if _HASHSEED in assignment_effects(site, ctx.facts):
                yield Violation(site.node, message)
        for call in ctx.facts.calls:
            if _HASHSEED in call_effects(call, ctx.facts):
                yield Violation(call.node, message)
