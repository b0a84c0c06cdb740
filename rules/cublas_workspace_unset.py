from __future__ import annotations

from collections.abc import Iterator

from repro_lint.catalog import load_catalog
from repro_lint.effects import DETERMINISTIC_MODE, DETERMINISTIC_RAISES, deterministic_mode_effects, env_set
from repro_lint.rule import SAFE, Fix, Rule, RuleContext, Violation

from ._workspace import WORKSPACE_ENV, set_workspace_fix

CUBLAS_ENTRY = "cublas_workspace"


class CublasWorkspaceUnset(Rule):
    """
    What it does:
        Flags `torch.use_deterministic_algorithms(True)` in a program that never sets the
        `CUBLAS_WORKSPACE_CONFIG` environment variable, for target torch versions that
        still need it (before about 2.10). accelerate's and transformers'
        `set_seed(..., deterministic=True)` call it too; Lightning's
        `Trainer(deterministic=True)` and transformers' `enable_full_determinism` set the
        variable themselves, so programs using them are fine.

    Why it matters:
        On CUDA 10.2 and later, cuBLAS picks nondeterministic reduction strategies unless
        the workspace size is fixed. Under deterministic mode those torch versions raise a
        RuntimeError from `mm`, `mv` and `bmm` instead, often hours into a run. The
        variable has to be set before CUDA is initialised, so the top of the program is
        the place. With `warn_only=True` they warn instead, and stay nondeterministic.

    Example:
        import torch

        torch.use_deterministic_algorithms(True)

    Use instead:
        import os
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.use_deterministic_algorithms(True)

    Fix safety:
        Safe: `os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")` is inserted
        before the first `import torch`, adding `import os` where needed. A value the
        user already exported wins over the default.
    """

    code = "RPL203"
    name = "cublas-workspace-unset"
    summary = "Deterministic mode without CUBLAS_WORKSPACE_CONFIG raises in cuBLAS on older torch"
    fix_applicability = SAFE
    markers = ("deterministic",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        # Up to torch 2.9, cuBLAS ops raised under deterministic mode unless the workspace was configured.
        behaviour = load_catalog().entry(CUBLAS_ENTRY).behaviour(ctx.torch_version)
        if behaviour is None or behaviour.under_det_mode != "raises":
            return
        if env_set(WORKSPACE_ENV) in ctx.project.file_effects(ctx.facts):
            return
        version = ".".join(map(str, ctx.torch_version))
        for call in ctx.facts.calls:
            effects = deterministic_mode_effects(call)
            if DETERMINISTIC_MODE not in effects or env_set(WORKSPACE_ENV) in effects:
                continue
            outcome = "raise" if DETERMINISTIC_RAISES in effects else "warn and stay nondeterministic"
            what = "deterministic mode" if call.qualname == "torch.use_deterministic_algorithms" else (
                f"`{call.qualname}(deterministic=True)` turns on deterministic mode")
            yield Violation(
                call.node,
                f"{what} without `{WORKSPACE_ENV}`: cuBLAS ops {outcome} on torch {version}; "
                f"set it to \":4096:8\" before importing torch",
                Fix(SAFE, f"Set `{WORKSPACE_ENV}` before the first torch import", set_workspace_fix(ctx.facts)),
            )
