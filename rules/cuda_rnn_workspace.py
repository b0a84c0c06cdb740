from __future__ import annotations

from collections.abc import Iterator

from repro_lint.effects import env_set
from repro_lint.rule import SAFE, Fix, Rule, RuleContext, Violation
from repro_lint.versions import format_version

from ._ops import OpMatcher, reachable_effects
from ._workspace import WORKSPACE_ENV, set_workspace_fix

RNN_ENTRY = "cudnn_rnn"


class CudaRnnWorkspace(Rule):
    """
    What it does:
        Flags `nn.RNN`, `nn.LSTM` and `nn.GRU` (and their functional forms) in a program
        that never sets the `CUBLAS_WORKSPACE_CONFIG` environment variable, for target torch
        versions whose documentation still prescribes it for cuDNN RNNs. Setting it in a
        helper, in this file or elsewhere in the linted project, counts.

    Why it matters:
        On CUDA 10.2 and later, cuDNN RNNs run their matrix products through cuBLAS, which
        picks nondeterministic reduction strategies unless the workspace size is fixed.
        `torch.use_deterministic_algorithms(True)` raises no error for them, so the
        differences between runs go unnoticed. The variable only works when set before CUDA
        is initialised.

    Example:
        import torch
        from torch import nn

        encoder = nn.LSTM(input_size=32, hidden_size=64, num_layers=2)

    Use instead:
        import os
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch
        from torch import nn

        encoder = nn.LSTM(input_size=32, hidden_size=64, num_layers=2)

    Fix safety:
        Safe: `os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")` is inserted
        before the file's first `import torch`, adding `import os` where needed. A value
        the user already exported wins over the default; the program computes the same
        thing with a fixed cuBLAS workspace.
    """

    code = "RPL403"
    name = "cuda-rnn-workspace"
    summary = "A cuDNN RNN in a program that never sets CUBLAS_WORKSPACE_CONFIG"
    fix_applicability = SAFE
    markers = ("RNN", "LSTM", "GRU", "lstm", "gru", "rnn")

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        matcher = OpMatcher(ctx.facts, ctx.torch_version)
        entry = matcher.catalog.entry(RNN_ENTRY)
        # The RNN docs prescribe the workspace setting in every release that has the row.
        if entry.behaviour(ctx.torch_version) is None:
            return
        uses = list(matcher.uses_of(entry))
        if not uses or env_set(WORKSPACE_ENV) in reachable_effects(ctx.facts, ctx.project):
            return
        version = format_version(ctx.torch_version)
        for use in uses:
            yield Violation(
                use.node,
                f"`{use.spelling}` runs cuDNN RNN kernels on CUDA that are nondeterministic in torch {version} "
                f"unless `{WORKSPACE_ENV}` is set before CUDA starts, and this program never sets it. "
                f"Workaround: {entry.workaround}",
                Fix(SAFE, f"Set `{WORKSPACE_ENV}` before the first torch import", set_workspace_fix(ctx.facts)),
                op=entry.id,
            )
